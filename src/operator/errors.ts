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
  | 'OPERATOR_ERR_COMMAND';

export class OperatorError extends CoapError {
  declare readonly code: OperatorErrorCode;
  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The gateway answered 4.xx or 5.xx; its diagnostic, when short, is in the message. */
export class GatewayError extends OperatorError {
  readonly responseCode: number;
  constructor(response: CoapResponse, what: string) {
    const diagnostic = response.payload.length > 0 && response.payload.length < 300 ? `: ${response.payload.toString('utf8')}` : '';
    super('OPERATOR_ERR_GATEWAY', `${what}: ${describeCode(response.code)}${diagnostic}`);
    this.responseCode = response.code;
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
