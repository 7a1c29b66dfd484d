// Typed errors of the operator's functions: each with a stable code, none naming a
// command-line flag (the CLI maps them to its own messages and exit statuses). A gateway's
// 4.xx/5.xx answer carries its response code.

import type { CoapResponse } from '../protocol/client.js';
import { describeCode } from '../protocol/codes.js';
import { CoapError } from '../protocol/errors.js';

export type OperatorErrorCode =
  | 'OPERATOR_ERR_GATEWAY'
  | 'OPERATOR_ERR_IMAGE'
  | 'OPERATOR_ERR_SIGNING_KEY'
  | 'OPERATOR_ERR_CREDENTIALS'
  | 'OPERATOR_ERR_INVALID_ID'
  | 'OPERATOR_ERR_KEYS_EXIST'
  | 'OPERATOR_ERR_TIMEOUT'
  | 'OPERATOR_ERR_COMMAND'
  | 'OPERATOR_ERR_RESPONSE'
  | 'OPERATOR_ERR_NOT_OBSERVED'
  | 'OPERATOR_ERR_NO_TARGETS';

export class OperatorError extends CoapError {
  declare readonly code: OperatorErrorCode;
  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The longest diagnostic shown in a message: a refusal's reason fits; a page of HTML
 * from a misconfigured proxy is cut. */
const MAX_DIAGNOSTIC_CHARS = 300;

/** The gateway answered 4.xx or 5.xx. Its diagnostic payload (RFC 7252 §5.5.2), which for
 * a forwarded request is the agent's own (why a signed command was refused), is in the
 * message and in `diagnostic`. */
export class GatewayError extends OperatorError {
  readonly responseCode: number;
  readonly diagnostic: string | undefined;
  constructor(response: CoapResponse, what: string) {
    const diagnostic = diagnosticText(response.payload);
    super('OPERATOR_ERR_GATEWAY', `${what}: ${describeCode(response.code)}${diagnostic === undefined ? '' : `: ${diagnostic}`}`);
    this.responseCode = response.code;
    this.diagnostic = diagnostic;
  }
}

/** A 2.xx whose body is not the representation asked for (not JSON, or not its shape):
 * a gateway or agent of another version, or a bug; nothing to retry. */
export class UnexpectedResponseError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPERATOR_ERR_RESPONSE', message, options);
  }
}

/** The gateway answered a follow (an Observe registration, RFC 7641 §3.1) without Observe:
 * it gave one representation and will send no more. */
export class ObservationRefusedError extends OperatorError {
  constructor(what: string) {
    super('OPERATOR_ERR_NOT_OBSERVED', `${what}: the gateway answered without Observe, so nothing more will come`);
  }
}

/** The image to publish cannot be read or is empty. */
export class ImageError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPERATOR_ERR_IMAGE', message, options);
  }
}

/** The publisher's signing key cannot be read or is not an Ed25519 private key. */
export class SigningKeyError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPERATOR_ERR_SIGNING_KEY', message, options);
  }
}

/** The operator's DTLS credentials are missing, unreadable or do not fit the gateway URI. */
export class CredentialsError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPERATOR_ERR_CREDENTIALS', message, options);
  }
}

/** A node, operator or update id that is not 1-64 of [A-Za-z0-9._-]. */
export class InvalidIdError extends OperatorError {
  constructor(message: string) {
    super('OPERATOR_ERR_INVALID_ID', message);
  }
}

/** Key files that generating keys would overwrite. */
export class KeysExistError extends OperatorError {
  readonly existing: readonly string[];
  constructor(directory: string, existing: readonly string[]) {
    super('OPERATOR_ERR_KEYS_EXIST', `${existing.join(', ')} exist in ${directory}`);
    this.existing = existing;
  }
}

/** Tags that name no registered node: nothing to publish to. */
export class NoTargetsError extends OperatorError {
  constructor(message: string) {
    super('OPERATOR_ERR_NO_TARGETS', message);
  }
}

/** A watch that did not see its end in the time it was given. */
export class OperatorTimeoutError extends OperatorError {
  constructor(message: string) {
    super('OPERATOR_ERR_TIMEOUT', message);
  }
}

/** A command to sign that is not one: an unknown action, arguments that are not a small
 * JSON object, a lifetime outside 1 s..the envelope's bound. */
export class CommandInputError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OPERATOR_ERR_COMMAND', message, options);
  }
}

/** A diagnostic payload as one line of text, cut to MAX_DIAGNOSTIC_CHARS; undefined when
 * empty. Control characters become spaces so a hostile peer cannot drive the terminal. */
function diagnosticText(payload: Buffer): string | undefined {
  if (payload.length === 0) return undefined;
  // Up to 4 bytes per character: no need to decode more than is shown.
  const text = payload.subarray(0, MAX_DIAGNOSTIC_CHARS * 4).toString('utf8').replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  if (text === '') return undefined;
  return text.length > MAX_DIAGNOSTIC_CHARS || payload.length > MAX_DIAGNOSTIC_CHARS * 4 ? `${text.slice(0, MAX_DIAGNOSTIC_CHARS)}…` : text;
}
