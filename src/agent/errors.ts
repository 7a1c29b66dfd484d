// Typed errors of the node agent (STYLE: one errors.ts per package). Each carries a stable
// `code`; the command line turns AGENT_ERR_CONFIG into exit status 2.

import type { CommandRefusal } from '../fleet/command-envelope.js';
import { describeCode, ResponseCode } from '../protocol/codes.js';
import { CoapError, ResponseError } from '../protocol/errors.js';

/** The root of the agent's errors, under the project's one root (CoapError): an
 * `instanceof CoapError` and a `code` tell every typed error from an unexpected one. */
export class AgentError extends CoapError {}

/** The configuration (file, environment, flags) is incomplete or wrong; every problem is
 * named at once so one edit fixes them all. */
export class AgentConfigError extends AgentError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], where = 'agent configuration') {
    super('AGENT_ERR_CONFIG', `${where}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** A state machine was asked for a move it does not allow: a bug, never a peer's doing. */
export class IllegalTransitionError extends AgentError {
  constructor(what: string, from: string, to: string) {
    super('AGENT_ERR_STATE', `illegal ${what} move ${from} -> ${to}`);
  }
}

/** The agent is stopping: the download ended after its current block. */
export class StoppedError extends AgentError {
  constructor(message = 'the agent is stopping') {
    super('AGENT_ERR_STOPPED', message);
  }
}

/** The gateway URI asks for a transport this build cannot provide. */
export class TransportUnavailableError extends AgentError {
  constructor(message: string) {
    super('AGENT_ERR_TRANSPORT', message);
  }
}

/** A directory of the agent (slots, state, downloads) cannot be written: a read-only
 * mount (EROFS), permissions (EACCES, EPERM), a parent missing or not a directory (ENOENT,
 * ENOTDIR). */
export class DirectoryNotWritableError extends AgentError {
  readonly directory: string;
  readonly errno: string;
  constructor(what: string, directory: string, errno: string, cause: unknown) {
    super('AGENT_ERR_NOT_WRITABLE', `${what} directory ${directory} is not writable (${errno})`, { cause });
    this.directory = directory;
    this.errno = errno;
  }
}

/** The gateway answered a request with an error code (a registration refused). */
export class GatewayRequestError extends AgentError {
  readonly responseCode: number;
  /** A 5.03's Max-Age: the gateway asks to be asked again after so many seconds. */
  readonly retryAfterS: number | undefined;
  /** `diagnostic`: the answer's diagnostic payload as one line, '' when it had none. */
  constructor(what: string, responseCode: number, diagnostic: string, retryAfterS?: number) {
    super('AGENT_ERR_GATEWAY', `${what}: ${describeCode(responseCode)}${diagnostic === '' ? '' : ` (${diagnostic})`}`);
    this.responseCode = responseCode;
    this.retryAfterS = retryAfterS;
  }
}

/** The rollout of the update in hand ended under it (cancelled, aborted, completed, or
 * withdrawn from this node's list): the abort reason of its job, and its failure reason. */
export class RolloutEndedError extends AgentError {
  readonly rollout: string;
  constructor(rollout: string) {
    super('AGENT_ERR_ROLLOUT_ENDED', `rollout ${rollout}`);
    this.rollout = rollout;
  }
}

/** The kernel's health figures (/proc/stat, /proc/meminfo) could not be read as expected. */
export class HealthFiguresError extends AgentError {
  constructor(message: string) {
    super('AGENT_ERR_HEALTH_FIGURES', message);
  }
}

/** The service manager (systemctl, or services_command) failed, timed out or said
 * something that cannot be read; the resources answer 5.03 with its message. */
export class ServiceManagerError extends AgentError {
  constructor(message: string) {
    super('AGENT_ERR_SERVICE_MANAGER', message);
  }
}

/** The log source (journalctl, or a log file) could not be read; GET /logs answers 5.03. */
export class LogSourceError extends AgentError {
  constructor(message: string) {
    super('AGENT_ERR_LOG_SOURCE', message);
  }
}

/** Why a signed command was refused: verifyCommand's reasons, and the agent's own: no
 * operator key pinned, an action this resource does not take, a unit not allowed, a
 * setting that is unknown, not changeable remotely, or given a bad value. */
export type CommandRefusalReason = CommandRefusal | 'no-key' | 'wrong-action' | 'unit-not-allowed' | 'bad-setting';

/** The response code of each refusal (the wire contract): 4.01 when the sender is not
 * shown to be an operator, 4.03 when an operator's command may not run here and now, 4.04
 * for a unit the node does not offer, 4.00 for what is not a command at all. */
const REFUSAL_CODES: Readonly<Record<CommandRefusalReason, number>> = {
  'unsigned': ResponseCode.Unauthorized, 'unknown-key': ResponseCode.Unauthorized, 'bad-signature': ResponseCode.Unauthorized,
  'no-key': ResponseCode.Unauthorized,
  'other-node': ResponseCode.Forbidden, 'expired': ResponseCode.Forbidden, 'too-far-in-future': ResponseCode.Forbidden,
  'replayed': ResponseCode.Forbidden, 'wrong-action': ResponseCode.Forbidden,
  'unit-not-allowed': ResponseCode.NotFound,
  'malformed': ResponseCode.BadRequest, 'bad-setting': ResponseCode.BadRequest,
};

/** A diagnostic's detail at most: it can name what the sender wrote (unknown fields), and
 * goes into one datagram and one audit entry. */
const MAX_DETAIL_CHARS = 400;

/** A signed command the agent will not run: the response code and a diagnostic that says
 * why ("expired: not_after … has passed"); the gateway forwards both untouched. */
export class CommandRefusedError extends ResponseError {
  readonly reason: CommandRefusalReason;
  constructor(reason: CommandRefusalReason, detail: string) {
    const diagnostic = `${reason}: ${detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS)}…` : detail}`;
    super(REFUSAL_CODES[reason], `command refused: ${diagnostic}`, { diagnostic, code: 'AGENT_ERR_COMMAND_REFUSED' });
    this.reason = reason;
  }
}

/** An accepted command that could not be carried out (a service action that failed, a
 * setting that could not be persisted): 5.00 with what went wrong. */
export class CommandFailedError extends ResponseError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(ResponseCode.InternalServerError, `command failed: ${detail}`, { diagnostic: detail, code: 'AGENT_ERR_COMMAND_FAILED' });
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** A chunk of a format 2 image does not hash to its signed sha256 (manifest.ts): it is
 * fetched again from its offset, up to a bound. */
export class ChunkMismatchError extends AgentError {
  readonly chunk: number;
  constructor(chunk: number) {
    super('AGENT_ERR_CHUNK', `chunk ${chunk}: sha256 mismatch`);
    this.chunk = chunk;
  }
}

/** The gateway's ETag changed mid-transfer (RFC 7959 §2.4): a format 2 download goes on
 * from its verified chunks rather than from zero, since their signed hashes vouch for them. */
export class ImageChangedError extends AgentError {
  constructor() {
    super('AGENT_ERR_IMAGE_CHANGED', 'the image changed on the gateway (ETag)');
  }
}

/** Enrollment (RFC 9148) failed for good: the bootstrap credential was refused (used,
 * expired, for another node) or the gateway refused the request; retrying cannot help. */
export class EnrollmentRefusedError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AGENT_ERR_ENROLLMENT', message, options);
  }
}
