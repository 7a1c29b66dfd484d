// The signed command envelope (DESIGN §6): a destructive command (restart, shutdown, a
// service stop or restart, a config change) carries the operator's Ed25519 signature over
// node, action, arguments, not-after and nonce, so the agent runs only what an operator key
// it pins has signed, once, for this node, and not after a bounded lifetime. A compromised
// gateway can forward or drop commands, never forge, redirect or replay one.

import { createHash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { CommandMalformedError, NonceLedgerFullError } from './errors.js';
import { toPrivateKey, toPublicKey } from './manifest.js';
import type { NonceLedger } from './nonce-ledger.js';
import { isValidId } from './paths.js';

export const COMMAND_ACTIONS = ['restart', 'shutdown', 'service.start', 'service.stop', 'service.restart', 'config.set'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type CommandArgs = { readonly [key: string]: JsonValue };

export interface CommandEnvelope {
  readonly v: 1;
  readonly node_id: string;
  readonly action: CommandAction;
  readonly args: CommandArgs;
  /** RFC 3339 UTC, e.g. 2026-12-06T19:45:00Z: the last instant the command may run. */
  readonly not_after: string;
  /** 16 random bytes, 32 lowercase hex digits: the command runs at most once. */
  readonly nonce: string;
  /** Which operator key signed: `keyId` of its public half. */
  readonly key_id: string;
  /** Base64 Ed25519 signature over `commandSignedBytes`. */
  readonly signature: string;
}

export type UnsignedCommand = Pick<CommandEnvelope, 'node_id' | 'action' | 'args' | 'not_after' | 'nonce'>;

/** The longest an envelope may live: a stolen one is useless after this. */
export const MAX_COMMAND_TTL_SECONDS = 3600;
/** How far the node's clock may lag the operator's before a fresh envelope of the longest
 * lifetime looks too far in the future. */
export const COMMAND_CLOCK_SKEW_SECONDS = 300;
/** The arguments' canonical JSON at most (a config value, a unit name: small). */
export const MAX_COMMAND_ARGS_BYTES = 4096;
/** Arguments nested at most this deep, so canonicalising untrusted input is bounded. */
export const MAX_COMMAND_ARGS_DEPTH = 8;

const DOMAIN = 'coap-fleet-command-v1';
const NONCE = /^[0-9a-f]{32}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{3})?Z$/;
const FIELDS = new Set(['v', 'node_id', 'action', 'args', 'not_after', 'nonce', 'key_id', 'signature']);

/** A fresh nonce: 16 random bytes as hex. */
export const newCommandNonce = (): string => randomBytes(16).toString('hex');

/** The first 16 hex digits of the sha256 of the raw 32-byte Ed25519 public key. */
export function keyId(key: string | KeyObject): string {
  const raw = Buffer.from(toPublicKey(key).export({ format: 'jwk' }).x ?? '', 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** Milliseconds since the epoch of an RFC 3339 UTC time (seconds, optionally
 * milliseconds, `Z`), or undefined when it is not one or names no real instant. */
export function parseUtcTime(text: string): number | undefined {
  const match = RFC3339_UTC.exec(text);
  if (match === null) return undefined;
  const ms = Date.parse(text);
  // Date.parse rolls 2026-02-30 over to March; the round trip refuses it.
  if (Number.isNaN(ms) || new Date(ms).toISOString() !== (match[7] === undefined ? text.replace('Z', '.000Z') : text)) return undefined;
  return ms;
}

const TOO_LARGE = { problem: `at most ${MAX_COMMAND_ARGS_BYTES} bytes of JSON` };

/** JSON with object keys sorted at every depth, or a problem: the one spelling of the
 * arguments that the signature covers, whatever order the sender wrote them in. Gives up
 * as soon as one level outgrows the bound, so a huge input costs no more than a small one
 * (with the depth bound, at most MAX_COMMAND_ARGS_DEPTH levels of that). */
function canonicalJson(value: unknown, depth: number): string | { problem: string } {
  if (depth > MAX_COMMAND_ARGS_DEPTH) return { problem: `nested deeper than ${MAX_COMMAND_ARGS_DEPTH}` };
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : { problem: 'a number that is not finite' };
  const parts: string[] = [];
  let length = 0;
  const add = (part: string): boolean => {
    parts.push(part);
    length += part.length + 1;
    return length <= MAX_COMMAND_ARGS_BYTES;
  };
  if (Array.isArray(value)) {
    // Each item takes at least 2 characters ("0,").
    if (value.length * 2 > MAX_COMMAND_ARGS_BYTES) return TOO_LARGE;
    for (const item of value) {
      const part = canonicalJson(item, depth + 1);
      if (typeof part !== 'string') return part;
      if (!add(part)) return TOO_LARGE;
    }
    return `[${parts.join(',')}]`;
  }
  // Plain objects only (what JSON.parse makes): a Date or a Map would sign as something else.
  if (typeof value !== 'object' || (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)) {
    return { problem: 'a value that is not JSON' };
  }
  const keys = Object.keys(value);
  // Each member takes at least 5 characters ('"":0,').
  if (keys.length * 5 > MAX_COMMAND_ARGS_BYTES) return TOO_LARGE;
  for (const key of keys.sort()) {
    const part = canonicalJson((value as Record<string, unknown>)[key], depth + 1);
    if (typeof part !== 'string') return part;
    if (!add(`${JSON.stringify(key)}:${part}`)) return TOO_LARGE;
  }
  return `{${parts.join(',')}}`;
}

/** The arguments' canonical JSON, or the problem with them. */
function canonicalArgs(args: unknown): string | { problem: string } {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return { problem: 'args: a JSON object' };
  const text = canonicalJson(args, 0);
  if (typeof text !== 'string') return { problem: `args: ${text.problem}` };
  if (Buffer.byteLength(text) > MAX_COMMAND_ARGS_BYTES) return { problem: `args: ${TOO_LARGE.problem}` };
  return text;
}

/** The bytes the signature covers: the domain, then each field in a fixed order, each as a
 * 4-byte big-endian length and its UTF-8 bytes, so no two envelopes share a byte string
 * and a command signature can never pass for a manifest's. */
export function commandSignedBytes(command: UnsignedCommand & Pick<CommandEnvelope, 'key_id'>): Buffer {
  const args = canonicalArgs(command.args);
  if (typeof args !== 'string') throw new CommandMalformedError([args.problem]);
  const fields = [DOMAIN, command.node_id, command.action, args, command.not_after, command.nonce, command.key_id];
  return Buffer.concat(fields.flatMap((field) => {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return [length, bytes];
  }));
}

/** Every problem with the fields other than the signature. */
function fieldProblems(value: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { node_id, action, not_after, nonce } = value;
  if (typeof node_id !== 'string' || !isValidId(node_id)) problems.push('node_id: 1-64 of [A-Za-z0-9._-]');
  if (typeof action !== 'string' || !(COMMAND_ACTIONS as readonly string[]).includes(action)) problems.push(`action: one of ${COMMAND_ACTIONS.join(', ')}`);
  const args = canonicalArgs(value.args);
  if (typeof args !== 'string') problems.push(args.problem);
  if (typeof not_after !== 'string' || parseUtcTime(not_after) === undefined) problems.push('not_after: an RFC 3339 UTC time like 2026-12-06T19:45:00Z');
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) problems.push('nonce: 32 lowercase hex digits (16 random bytes)');
  return problems;
}

/** The signed envelope; throws CommandMalformedError naming what is wrong with `unsigned`. */
export function signCommand(unsigned: UnsignedCommand, privateKey: string | KeyObject): CommandEnvelope {
  const problems = fieldProblems(unsigned as unknown as Record<string, unknown>);
  if (problems.length > 0) throw new CommandMalformedError(problems);
  const key = toPrivateKey(privateKey);
  const fields = {
    v: 1 as const, node_id: unsigned.node_id, action: unsigned.action, args: unsigned.args,
    not_after: unsigned.not_after, nonce: unsigned.nonce, key_id: keyId(key),
  };
  return { ...fields, signature: sign(null, commandSignedBytes(fields), key).toString('base64') };
}

/** An envelope from untrusted JSON, or the list of what is wrong with it. Fields nobody
 * signed are refused rather than carried along unauthenticated. */
export function parseCommand(input: unknown): { command: CommandEnvelope } | { problems: string[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { problems: ['command must be an object'] };
  const value = input as Record<string, unknown>;
  const problems: string[] = [];
  if (value.v !== 1) problems.push('v: 1');
  problems.push(...fieldProblems(value));
  if (typeof value.key_id !== 'string' || !KEY_ID.test(value.key_id)) problems.push('key_id: 16 lowercase hex digits');
  if (typeof value.signature !== 'string' || Buffer.from(value.signature, 'base64').length !== 64) problems.push('signature: base64 Ed25519 signature');
  for (const field of Object.keys(value)) if (!FIELDS.has(field)) problems.push(`${field}: not a field of a command`);
  if (problems.length > 0) return { problems };
  return { command: value as unknown as CommandEnvelope };
}

export type CommandRefusal =
  | 'unsigned' | 'malformed' | 'unknown-key' | 'bad-signature' | 'other-node' | 'expired' | 'too-far-in-future' | 'replayed';

export type CommandVerdict =
  | { readonly ok: true; readonly command: CommandEnvelope }
  | { readonly ok: false; readonly reason: CommandRefusal; readonly detail: string };

export interface VerifyCommandOptions {
  /** This node's id: an envelope for another node is refused. */
  readonly nodeId: string;
  /** The operator public keys this node pins, by key id or as a list. */
  readonly trustedKeys: ReadonlyMap<string, KeyObject> | readonly KeyObject[];
  /** Now, in milliseconds since the epoch. */
  readonly now: number;
  /** The nonces already accepted; a good envelope's nonce is remembered in it. */
  readonly nonces: Pick<NonceLedger, 'seen' | 'remember'>;
}

const refuse = (reason: CommandRefusal, detail: string): CommandVerdict => ({ ok: false, reason, detail });

/** Whether this node may run the command in `input` (untrusted JSON) now, and if not why.
 * The signature is checked before anything the signature covers is believed, and the
 * nonce is remembered only once everything else holds, so forged or stale envelopes
 * cannot fill the nonce memory. Never throws on bad input. */
export function verifyCommand(input: unknown, options: VerifyCommandOptions): CommandVerdict {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const { signature } = input as Record<string, unknown>;
    if (signature === undefined || signature === null || signature === '') return refuse('unsigned', 'the command carries no signature');
  }
  const parsed = parseCommand(input);
  if ('problems' in parsed) return refuse('malformed', parsed.problems.join('; '));
  const { command } = parsed;
  const keys = options.trustedKeys instanceof Map
    ? options.trustedKeys as ReadonlyMap<string, KeyObject>
    : new Map((options.trustedKeys as readonly KeyObject[]).map((key) => [keyId(key), key]));
  const key = keys.get(command.key_id);
  if (key === undefined) return refuse('unknown-key', `key ${command.key_id} is not one this node pins`);
  if (!verify(null, commandSignedBytes(command), key, Buffer.from(command.signature, 'base64'))) {
    return refuse('bad-signature', `the signature does not verify with key ${command.key_id}`);
  }
  if (command.node_id !== options.nodeId) return refuse('other-node', `the command is for ${command.node_id}, this is ${options.nodeId}`);
  const notAfter = parseUtcTime(command.not_after) as number;
  if (options.now > notAfter) return refuse('expired', `not_after ${command.not_after} has passed (now ${new Date(options.now).toISOString()})`);
  if (notAfter - options.now > (MAX_COMMAND_TTL_SECONDS + COMMAND_CLOCK_SKEW_SECONDS) * 1000) {
    return refuse('too-far-in-future', `not_after ${command.not_after} is more than ${MAX_COMMAND_TTL_SECONDS} s (+${COMMAND_CLOCK_SKEW_SECONDS} s clock skew) ahead`);
  }
  if (options.nonces.seen(command.nonce)) return refuse('replayed', `nonce ${command.nonce} was used before`);
  try {
    options.nonces.remember(command.nonce, notAfter, options.now);
  } catch (error) {
    if (error instanceof NonceLedgerFullError) return refuse('replayed', `cannot remember nonce ${command.nonce}, so it could be replayed: ${error.message}`);
    throw error;
  }
  return { ok: true, command };
}
