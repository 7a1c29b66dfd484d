// The one door of the agent's destructive resources (DESIGN §6): a request's body is the
// operator's signed CommandEnvelope (JSON, or CBOR with Content-Format 60); it runs only if
// a pinned operator key signed it for this node, it has not expired, its nonce is new
// (the LMDB ledger, across restarts) and its action is the one this resource takes. Every
// verdict is audited; a refusal becomes CommandRefusedError, its code and a diagnostic.

import type { KeyObject } from 'node:crypto';
import { verifyCommand, type CommandEnvelope } from '../fleet/command-envelope.js';
import type { NonceLedger } from '../fleet/nonce-ledger.js';
import { decodeBody } from '../fleet/payload.js';
import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import type { CoapRequest } from '../protocol/server-types.js';
import type { CommandAudit } from './command-audit.js';
import { CommandRefusedError } from './errors.js';

export interface CommandGateOptions {
  readonly nodeId: string;
  /** The pinned operator keys by key id (config operator_keys). */
  readonly keys: ReadonlyMap<string, KeyObject>;
  /** Wall-clock time, ms since the epoch: an envelope's not_after is a calendar time. */
  readonly now: () => number;
  readonly nonces: NonceLedger;
  readonly audit: CommandAudit;
}

/** Whether the verified command is one this resource takes: undefined if so, else why not
 * (an action of another resource; a service unit this node does not offer; a setting it
 * cannot take). Checked before the command counts as accepted, so the audit tells. */
export type ActionCheck = (command: CommandEnvelope) => { readonly reason: 'wrong-action' | 'unit-not-allowed' | 'bad-setting'; readonly detail: string } | undefined;

export class CommandGate {
  readonly #options: CommandGateOptions;

  constructor(options: CommandGateOptions) {
    this.#options = options;
  }

  /** The verified command of `request` to `resource` ("POST /system/restart"), its nonce
   * spent; or throws CommandRefusedError (or the body's own 4.00/4.13/4.15), audited. */
  admit(request: CoapRequest, resource: string, fits: ActionCheck): CommandEnvelope {
    const { nodeId, keys, now, nonces, audit } = this.#options;
    const at = now();
    const refuse = (error: ResponseError, input: unknown = undefined): never => {
      const field = (name: string): string | null => {
        const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[name] : undefined;
        return typeof value === 'string' ? value.slice(0, 64) : null;
      };
      audit.record({
        at: new Date(at).toISOString(), action: field('action'), resource, outcome: 'refused',
        reason: error.diagnostic ?? error.message, key_id: field('key_id'), nonce: field('nonce'),
      });
      throw error;
    };
    let input: unknown;
    try {
      input = decodeBody(request.payload, request.contentFormat);
    } catch (error) {
      if (!(error instanceof ResponseError)) throw error;
      // Bytes that are no JSON or CBOR at all are as malformed as a bad envelope (4.00),
      // said the same way; a body too large (4.13) or of another format (4.15) keeps its code.
      refuse(error.responseCode === ResponseCode.BadRequest ? new CommandRefusedError('malformed', error.message) : error);
    }
    if (keys.size === 0) refuse(new CommandRefusedError('no-key', 'no operator key pinned (operator_keys in the agent\'s configuration)'), input);
    let verdict;
    try {
      verdict = verifyCommand(input, { nodeId, trustedKeys: keys, now: at, nonces });
    } catch (error) {
      // The ledger's write failed (a full disk): without the nonce kept, the command could
      // be replayed, so it does not run.
      return refuse(new ResponseError(ResponseCode.ServiceUnavailable, `cannot keep the command's nonce: ${(error as Error).message}`, {
        diagnostic: 'the node cannot keep the command\'s nonce (its state disk refused the write)', maxAge: 30, code: 'AGENT_ERR_STATE_UNAVAILABLE',
      }), input);
    }
    if (!verdict.ok) return refuse(new CommandRefusedError(verdict.reason, verdict.detail), input);
    const { command } = verdict;
    const misfit = fits(command);
    if (misfit !== undefined) refuse(new CommandRefusedError(misfit.reason, misfit.detail), command);
    audit.record({
      at: new Date(at).toISOString(), action: command.action, resource, outcome: 'accepted', reason: null, key_id: command.key_id, nonce: command.nonce,
    });
    return command;
  }
}

/** The check of a resource that takes exactly one action. */
export const takes = (action: CommandEnvelope['action'], resource: string): ActionCheck => (command) => (command.action === action
  ? undefined : { reason: 'wrong-action', detail: `${resource} takes ${action}, not ${command.action}` });
