// Where the operator's command key is (DESIGN §6): the Ed25519 private key that signs
// destructive commands, `operator-command.key` of `keys generate`. Given explicitly, else
// named by the environment, else the one `keys generate` wrote beside the operator's
// credentials file; never guessed further.

import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SigningKeyError } from './errors.js';

/** The file name `keys generate` gives the command key (src/operator/keys.ts). */
export const COMMAND_KEY_FILE = 'operator-command.key';
/** The environment variable that names the command key's file. */
export const COMMAND_KEY_ENV = 'COAP_FLEET_COMMAND_KEY';

export interface CommandKeyHints {
  /** A path the operator gave: used as is (a missing file fails when it is read). */
  readonly given?: string | undefined;
  /** The value of COAP_FLEET_COMMAND_KEY, when set. */
  readonly environment?: string | undefined;
  /** The operator's credentials file (operator-NAME.json) or certificate (operator-NAME.crt),
   * whose folder may hold the key. */
  readonly credentials?: string | undefined;
}

/** The command key's path, by the first hint that names one; SigningKeyError when none does. */
export async function locateCommandKey(hints: CommandKeyHints): Promise<string> {
  if (hints.given !== undefined) return hints.given;
  if (hints.environment !== undefined && hints.environment !== '') return hints.environment;
  const beside = hints.credentials === undefined ? undefined : join(dirname(hints.credentials), COMMAND_KEY_FILE);
  if (beside !== undefined && await access(beside).then(() => true, () => false)) return beside;
  throw new SigningKeyError(`no operator command key: none given, ${COMMAND_KEY_ENV} is not set, and ${beside === undefined
    ? 'no credentials file to look beside' : `there is no ${beside}`}`);
}
