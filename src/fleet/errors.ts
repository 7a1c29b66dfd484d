// Typed errors of the domain both daemons and the CLI share (src/fleet): one root,
// FleetError, under the project's CoapError, and a stable `code` per kind, so a daemon or
// the CLI tells them apart by code, never by message (the CLI maps STORE_CORRUPT to exit
// status 4).

import { CoapError } from '../protocol/errors.js';

export class FleetError extends CoapError {}

/** Bytes that are not the CBOR we accept (RFC 8949; cbor.ts): the caller answers 4.00. */
export class CborError extends FleetError {
  constructor(message: string) {
    super('FLEET_ERR_CBOR', message);
  }
}

/** A string that is not a version (version.ts), given where one must be compared. */
export class VersionError extends FleetError {
  constructor(version: string) {
    super('FLEET_ERR_VERSION', `not a version: ${JSON.stringify(version)}`);
  }
}

/** The store failed its check (store-check.ts): the daemon stops with this one line (exit
 * status 4). */
export class StoreCorruptError extends FleetError {
  readonly directory: string;
  constructor(directory: string, reason: string) {
    super('STORE_CORRUPT', `the state store in ${directory} is damaged: ${reason}; restore it from a backup, or move it away to start with an empty state`);
    this.directory = directory;
  }
}

/** A write that the disk refused (DESIGN §7: a full disk gives 5.03 and the daemon keeps
 * running); store-write-error.ts tells which system errors amount to one. */
export class StoreWriteError extends FleetError {
  /** The disk, its quota or LMDB's map is full: space freed, the write can succeed. */
  readonly noSpace: boolean;
  /** The system's error: ENOSPC, EIO, 28, … */
  readonly reason: string;
  constructor(directory: string, noSpace: boolean, reason: string, options?: { cause?: unknown }) {
    super(noSpace ? 'STORE_NO_SPACE' : 'STORE_WRITE_FAILED',
      noSpace ? `no space left on the disk of ${directory} (${reason})` : `cannot write to ${directory} (${reason})`, options);
    this.noSpace = noSpace;
    this.reason = reason;
  }
}

/** A command envelope that cannot be signed as given (command-envelope.ts): the problems,
 * each named as parseCommand names them. */
export class CommandMalformedError extends FleetError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('FLEET_ERR_COMMAND_MALFORMED', `not a valid command: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** The nonce memory (nonce-ledger.ts) holds its bound of unexpired nonces: a new command
 * is refused rather than one of them forgotten, which would let its envelope be replayed. */
export class NonceLedgerFullError extends FleetError {
  constructor(capacity: number) {
    super('FLEET_ERR_COMMAND_NONCES_FULL', `the command nonce memory holds ${capacity} unexpired nonces, its bound: try again when some have expired`);
  }
}

/** A credentials file (credentials-file.ts) that cannot be read or does not hold a usable
 * identity and key. */
export class CredentialsFileError extends FleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FLEET_ERR_CREDENTIALS', message, options);
  }
}

/** A certificate, key or PKCS#10 request (certificates.ts) that cannot be read, does not
 * verify, or cannot be issued as asked. A CA that refuses a request answers 4.00. */
export class CertificateError extends FleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FLEET_ERR_CERTIFICATE', message, options);
  }
}
