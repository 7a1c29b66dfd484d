// Typed errors of the command line. main.ts turns every error into an exit status and a
// one-line message; the operator's domain errors (src/operator/errors.ts) are mapped to
// these by the commands where a flag is to blame.

import { CoapError } from '../protocol/errors.js';

/** A mistake in how the program was called: exit status 2, with the command's usage. */
export class UsageError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLI_ERR_USAGE', message, options);
  }
}
