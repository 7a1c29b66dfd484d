// Signing a destructive command for one node (DESIGN §6): the operator's Ed25519 key, read
// from its file here on the operator's machine, signs an envelope (src/fleet/
// command-envelope.ts) that the node's agent verifies against the keys it pins. The
// gateway only carries the envelope.

import { CommandMalformedError } from '../fleet/errors.js';
import {
  COMMAND_ACTIONS, MAX_COMMAND_TTL_SECONDS, newCommandNonce, signCommand, type CommandAction, type CommandArgs, type CommandEnvelope,
} from '../fleet/command-envelope.js';
import { toPrivateKey } from '../fleet/manifest.js';
import { isValidId } from '../fleet/paths.js';
import { CommandInputError, InvalidIdError, SigningKeyError } from './errors.js';
import { readSigningKey } from './publish.js';

/** Long enough to cross a slow gateway to a node on a poor link, short enough that an
 * envelope copied off the wire is soon useless. */
export const DEFAULT_COMMAND_TTL_SECONDS = 300;

export interface CommandRequest {
  readonly nodeId: string;
  /** One of COMMAND_ACTIONS; anything else is refused with CommandInputError. */
  readonly action: string;
  /** A JSON object (default {}). */
  readonly args?: unknown;
  /** Seconds the envelope may be used, 1..MAX_COMMAND_TTL_SECONDS (default 300). */
  readonly ttlSeconds?: number;
  /** The operator's Ed25519 private key, PEM (operator-command.key from keys generate). */
  readonly signingKeyPath: string;
  /** Now, in milliseconds since the epoch (default the system clock). */
  readonly now?: number;
}

const isAction = (action: string): action is CommandAction => (COMMAND_ACTIONS as readonly string[]).includes(action);

/** The signed envelope of the command. Throws InvalidIdError for a bad node id,
 * CommandInputError for a bad action, arguments or lifetime, SigningKeyError for a key that
 * cannot be read or is not an Ed25519 private key. Nothing is sent. */
export async function signCommandFor(request: CommandRequest): Promise<CommandEnvelope> {
  const { nodeId, action, args = {}, ttlSeconds = DEFAULT_COMMAND_TTL_SECONDS, signingKeyPath, now = Date.now() } = request;
  if (!isValidId(nodeId)) throw new InvalidIdError(`${JSON.stringify(nodeId)} is not a valid node id (1-64 of [A-Za-z0-9._-])`);
  if (!isAction(action)) throw new CommandInputError(`${JSON.stringify(action)} is not a command: one of ${COMMAND_ACTIONS.join(', ')}`);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_COMMAND_TTL_SECONDS) {
    throw new CommandInputError(`the command's lifetime must be 1..${MAX_COMMAND_TTL_SECONDS} s, not ${ttlSeconds}`);
  }
  const pem = await readSigningKey(signingKeyPath);
  let privateKey;
  try {
    privateKey = toPrivateKey(pem);
  } catch (error) {
    throw new SigningKeyError(`${signingKeyPath} is not a private key: ${(error as Error).message}`, { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(`${signingKeyPath} is a ${privateKey.asymmetricKeyType ?? 'non-asymmetric'} key, not an Ed25519 one`);
  }
  // Whole seconds: the RFC 3339 form an operator reads, rounded down so the lifetime never
  // exceeds what was asked.
  const notAfter = new Date(now + ttlSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  try {
    return signCommand({ node_id: nodeId, action, args: args as CommandArgs, not_after: notAfter, nonce: newCommandNonce() }, privateKey);
  } catch (error) {
    if (error instanceof CommandMalformedError) throw new CommandInputError(error.problems.join('; '), { cause: error });
    throw error;
  }
}
