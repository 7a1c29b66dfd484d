// The operator command keys the agent pins (DESIGN §6): the Ed25519 public halves
// (operator-command.pub of `keys generate`) whose signatures a destructive command must
// carry. Read once at start; a file that is not such a key is a configuration problem.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { keyId } from '../fleet/command-envelope.js';

/** "-----BEGIN PRIVATE KEY-----", and the EC, RSA, ENCRYPTED… variants. */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** The keys by key id (the envelope's `key_id`); a problem line per file that is unreadable,
 * not a PEM public key, a private key, or not Ed25519. */
export function readOperatorKeys(paths: readonly string[], problems: string[]): ReadonlyMap<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const path of paths) {
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      problems.push(`operator_keys: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      continue;
    }
    // createPublicKey would derive the public half of a private key; but a signing key on a
    // node is one a compromise of the node hands over, so it is refused.
    if (PRIVATE_KEY_PEM.test(pem)) {
      problems.push(`operator_keys: ${path} is a private key; give the operator's public key (operator-command.pub from keys generate) and keep the private one with the operator`);
      continue;
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (error) {
      problems.push(`operator_keys: ${path} is not a PEM public key (${(error as Error).message})`);
      continue;
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      problems.push(`operator_keys: ${path} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`);
      continue;
    }
    keys.set(keyId(key), key);
  }
  return keys;
}
