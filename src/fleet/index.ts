// `coap-fleet/fleet`: the update manifest for integrators who publish from their own
// tooling: signing and verifying (Ed25519 over the canonical form), parsing with every
// problem named, and version order for anti-rollback.

export {
  chunkingOf, DEFAULT_CHUNK_SIZE, DEFAULT_POLICY, MAX_CHUNKS, MAX_IMAGE_SIZE, MAX_TARGETS, parseManifest, signedBytes, signManifest,
  verifyManifest, type Manifest, type UnsignedManifest, type UpdatePolicy,
} from './manifest.js';
export { imageDigests } from './image-digests.js';
export { compareVersions, isValidVersion } from './version.js';
export { FleetError, VersionError } from './errors.js';
export { NODE_UPDATE_STATES, type NodeUpdateState } from './update-state.js';
// The signed command envelope an agent verifies before a destructive command (DESIGN §6),
// and the bounded memory of nonces it has accepted.
export {
  COMMAND_ACTIONS, MAX_COMMAND_ARGS_BYTES, MAX_COMMAND_TTL_SECONDS, commandSignedBytes, keyId, newCommandNonce, parseCommand,
  signCommand, verifyCommand, type CommandAction, type CommandArgs, type CommandEnvelope, type CommandRefusal,
  type CommandVerdict, type UnsignedCommand, type VerifyCommandOptions,
} from './command-envelope.js';
export { MemoryNonceLedger, type NonceLedger } from './nonce-ledger.js';
export { CommandMalformedError, NonceLedgerFullError } from './errors.js';
