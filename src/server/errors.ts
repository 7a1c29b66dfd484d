// Typed errors of the gateway: a stable `code` per kind (GATEWAY_ERR_…), so the CLI maps a
// bad config to exit status 2 with one line and never a stack trace, and a denied request
// is told apart from any other refusal on its way to the log and the audit trail.

import { ResponseCode } from '../protocol/codes.js';
import type { StoreWriteError } from '../fleet/errors.js';
import { CoapError, ResponseError } from '../protocol/errors.js';

/** The configuration (file, environment, flags) is wrong: what and where, for a person. */
export class ConfigError extends CoapError {
  constructor(message: string) {
    super('GATEWAY_ERR_CONFIG', message);
  }
}

/** The state store could not be opened or written. */
export class StoreError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GATEWAY_ERR_STORE', message, options);
  }
}

/** Seconds a client waits before it tries a state write again that the disk refused. */
export const STATE_RETRY_AFTER_S = 30;

/** A state write the disk refused (DESIGN §7): 5.03 with a diagnostic and a Max-Age, and
 * the gateway keeps running; the write succeeds again once there is room. */
export class StateUnavailable extends ResponseError {
  readonly failure: StoreWriteError;
  constructor(failure: StoreWriteError) {
    super(ResponseCode.ServiceUnavailable, failure.message, {
      diagnostic: failure.noSpace ? 'no space left on the gateway\'s state disk' : 'the gateway\'s state disk refused the write',
      maxAge: STATE_RETRY_AFTER_S,
      code: 'GATEWAY_ERR_STATE_UNAVAILABLE',
    });
    this.name = 'StateUnavailable';
    this.failure = failure;
  }
}

/** A request refused by authorization (DESIGN §6): 4.01 without an identity, 4.03 with
 * the wrong one. Thrown by the authorization step and by handlers that find a body naming
 * another node; the routing layer logs and audits it before it becomes the response. */
export class AccessDenied extends ResponseError {
  constructor(responseCode: typeof ResponseCode.Unauthorized | typeof ResponseCode.Forbidden, reason: string) {
    super(responseCode, reason, {
      diagnostic: responseCode === ResponseCode.Unauthorized ? 'identity required' : 'forbidden', code: 'GATEWAY_ERR_ACCESS_DENIED',
    });
    this.name = 'AccessDenied';
  }
}

/** 5.02 Bad Gateway (RFC 7252 §5.9.3.3): a node's agent answered, but not with a valid
 * response to what was forwarded (a code no such request can get, a payload that is not
 * the content format it claims); the diagnostic says what was wrong. */
export class BadGateway extends ResponseError {
  constructor(nodeId: string, why: string) {
    super(ResponseCode.BadGateway, `node ${nodeId}: ${why}`, { diagnostic: `node ${nodeId} answered badly: ${why}`, code: 'GATEWAY_ERR_BAD_GATEWAY' });
    this.name = 'BadGateway';
  }
}
