// Loads build/mbedtls-dtls.wasm (built by tools/build-wasm.mjs) and owns its memory: views
// re-created whenever memory.grow replaced the buffer, scratch buffers for datagrams in and
// records out, and the host imports (entropy from node:crypto, the wall clock, PSK lookups
// routed to the session that asked, aborts turned into errors). The module owns no timers.

import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DtlsError } from './errors.js';

// The project's lib setting (ES2023, no DOM) has no WebAssembly types: the little used here.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmInstance {
  readonly exports: object;
}
interface WasmApi {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: WasmInstance }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The C API of tools/mbedtls/fleet_*.c; pointers and sizes are wasm32 numbers. */
export interface DtlsExports {
  readonly memory: WasmMemory;
  fleet_malloc(size: number): number;
  fleet_free(pointer: number): void;
  fleet_heap_in_use(): number;
  fleet_heap_peak(): number;
  fleet_heap_allocations(): number;
  fleet_heap_size(): number;
  fleet_heap_check(): number;
  fleet_config_new(isServer: number, mode: number): number;
  fleet_config_free(config: number): void;
  fleet_config_set_psk(config: number, identity: number, identityLength: number, key: number, keyLength: number): number;
  fleet_config_set_ca(config: number, pem: number, length: number): number;
  fleet_config_set_own_cert(config: number, cert: number, certLength: number, key: number, keyLength: number): number;
  fleet_config_set_authmode(config: number, authmode: number): void;
  fleet_config_set_timeouts(config: number, minMs: number, maxMs: number): void;
  fleet_config_set_mtu(config: number, mtu: number): void;
  fleet_config_set_badmac_limit(config: number, limit: number): void;
  fleet_config_set_cid(config: number, length: number): number;
  fleet_config_set_server_name(config: number, name: number, length: number): number;
  fleet_config_ready(config: number): number;
  fleet_config_reply(config: number): number;
  fleet_config_reply_len(config: number): number;
  fleet_listener_check(config: number, cliId: number, cliIdLength: number, input: number, inputLength: number): number;
  fleet_session_new(config: number, cliId: number, cliIdLength: number): number;
  fleet_session_free(session: number): void;
  fleet_session_input(session: number, input: number, length: number): void;
  fleet_session_handshake(session: number): number;
  fleet_session_read(session: number, buffer: number, capacity: number): number;
  fleet_session_write(session: number, buffer: number, length: number): number;
  fleet_session_close_notify(session: number): number;
  fleet_session_timer_expired(session: number): void;
  fleet_session_out_data(session: number): number;
  fleet_session_out_len(session: number): number;
  fleet_session_out_pop(session: number): void;
  fleet_session_identity(session: number): number;
  fleet_session_own_cid(session: number): number;
  fleet_session_info(session: number, what: number): number;
  fleet_session_save(session: number, buffer: number, capacity: number): number;
  fleet_session_load(config: number, cliId: number, cliIdLength: number, blob: number, length: number): number;
  fleet_sizeof_session(): number;
}

/** Questions for fleet_session_info (the enum in fleet_dtls.c). */
export const SessionInfo = {
  verifyFlags: 0,
  alertReceived: 1,
  pskUnknown: 2,
  identityLength: 3,
  maxPayload: 4,
  handshakeOver: 5,
  peerCidLength: 6,
  timerMs: 7,
  timerGeneration: 8,
  outDropped: 9,
  ownCidLength: 10,
} as const;

/** A server session's PSK lookup, called from inside the module during a handshake. */
export type PskResolver = (identity: string) => Uint8Array | undefined;

/** The end-entity certificate a peer presented: its serial (lowercase hex, no leading
 * zeros) and subject (as mbedTLS writes it: "CN=node:n1, O=coap-fleet"). */
export interface PeerCertificate {
  readonly serial: string;
  readonly subject: string;
}

/** A server session's revocation check, called from inside the module while it verifies
 * the peer's certificate: true refuses it. */
export type RevocationCheck = (certificate: PeerCertificate) => boolean;

export interface DtlsModuleOptions {
  /** Default: findWasm(). */
  readonly wasmPath?: string;
  /** Wall-clock milliseconds since the epoch: certificate validity and cookie age. Tests
   * move it to check expired certificates. Default Date.now. */
  readonly wallClock?: () => number;
}

export interface HeapStats {
  /** Bytes in allocated chunks, headers included. */
  readonly inUse: number;
  readonly peak: number;
  readonly allocations: number;
  /** Bytes of linear memory the heap spans (never shrinks). */
  readonly size: number;
}

/** Largest datagram handed to a session: anything larger cannot fit a 4 KiB record buffer. */
export const MAX_DATAGRAM = 8192;
/** Largest application record the module produces (MBEDTLS_SSL_IN_CONTENT_LEN). */
export const MAX_RECORD = 4096;
const ENTROPY_CHUNK = 65536;

/** Walks up from this file to the package root (the folder with coap-fleet's package.json). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'coap-fleet') return dir;
      } catch { /* not ours; keep walking */ }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Where the module is: $COAP_FLEET_DTLS_WASM, else build/mbedtls-dtls.wasm in the package. */
export function findWasm(): string {
  const fromEnvironment = process.env.COAP_FLEET_DTLS_WASM;
  if (fromEnvironment !== undefined && fromEnvironment !== '') return fromEnvironment;
  return join(packageRoot() ?? process.cwd(), 'build', 'mbedtls-dtls.wasm');
}

export class DtlsModule {
  readonly exports: DtlsExports;
  readonly #memory: WasmMemory;
  #bytes: Uint8Array;
  readonly #pskResolvers = new Map<number, PskResolver>();
  readonly #revocationChecks = new Map<number, RevocationCheck>();
  /** Scratch for one input datagram at a time (lent to a session during one call). */
  readonly inputScratch: number;
  /** Scratch for one decrypted record at a time. */
  readonly recordScratch: number;
  #broken: DtlsError | undefined;
  #inCallback = false;

  private constructor(instance: WasmInstance) {
    this.exports = instance.exports as unknown as DtlsExports;
    this.#memory = this.exports.memory;
    this.#bytes = new Uint8Array(this.#memory.buffer);
    this.inputScratch = this.exports.fleet_malloc(MAX_DATAGRAM);
    this.recordScratch = this.exports.fleet_malloc(MAX_RECORD);
    if (this.inputScratch === 0 || this.recordScratch === 0) throw new DtlsError('DTLS_ERR_OUT_OF_MEMORY', 'cannot allocate the module scratch buffers');
  }

  static async load(options: DtlsModuleOptions = {}): Promise<DtlsModule> {
    const path = options.wasmPath ?? findWasm();
    if (!existsSync(path)) {
      throw new DtlsError('DTLS_ERR_MODULE', `DTLS module ${path} is missing: run \`node tools/build-wasm.mjs\` (needs clang-14 and lld-14) or install a package that carries it`);
    }
    const wallClock = options.wallClock ?? Date.now;
    let module: DtlsModule | undefined;
    const imports = {
      env: {
        fleet_host_now_ms: (): number => wallClock(),
        fleet_host_random: (pointer: number, length: number): number => {
          const bytes = module!.bytes();
          for (let offset = 0; offset < length; offset += ENTROPY_CHUNK) {
            randomFillSync(bytes, pointer + offset, Math.min(ENTROPY_CHUNK, length - offset));
          }
          return 0;
        },
        fleet_host_abort: (code: number): never => {
          const reason = ['', 'assertion failed', 'heap corrupted', 'double free'][code] ?? `code ${code}`;
          const error = new DtlsError('DTLS_ERR_MODULE', `the DTLS module aborted: ${reason}`);
          if (module !== undefined) module.#broken = error;
          throw error;
        },
        fleet_host_psk: (session: number, identity: number, identityLength: number, key: number, capacity: number): number =>
          module!.#lookupPsk(session, identity, identityLength, key, capacity),
        fleet_host_cert_revoked: (session: number, serial: number, serialLength: number, subject: number, subjectLength: number): number =>
          module!.#checkRevoked(session, serial, serialLength, subject, subjectLength),
      },
    };
    const { instance } = await wasmApi.instantiate(readFileSync(path), imports);
    module = new DtlsModule(instance);
    return module;
  }

  static #shared: Promise<DtlsModule> | undefined;

  /** One module per process, loaded on first use: sessions of every context share its heap. */
  static shared(): Promise<DtlsModule> {
    DtlsModule.#shared ??= DtlsModule.load().catch((error: unknown) => {
      DtlsModule.#shared = undefined;
      throw error;
    });
    return DtlsModule.#shared;
  }

  /** The memory as bytes; a new view after memory.grow detached the old buffer. */
  bytes(): Uint8Array {
    if (this.#bytes.buffer !== this.#memory.buffer) this.#bytes = new Uint8Array(this.#memory.buffer);
    return this.#bytes;
  }

  /** Throws once the module aborted (its state can no longer be trusted), and when called
   * from inside a PSK lookup (the module is mid-handshake and not re-entrant). */
  assertUsable(): void {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.#inCallback) throw new DtlsError('DTLS_ERR_MODULE', 'the DTLS module was called from inside a PSK lookup; lookups must not use DTLS sessions');
  }

  /** Copies bytes into a fresh allocation; the caller frees it. */
  allocCopy(data: Uint8Array, terminate = false): number {
    const size = data.length + (terminate ? 1 : 0);
    const pointer = this.exports.fleet_malloc(Math.max(1, size));
    if (pointer === 0) throw new DtlsError('DTLS_ERR_OUT_OF_MEMORY', 'the DTLS module is out of memory');
    const bytes = this.bytes();
    bytes.set(data, pointer);
    if (terminate) bytes[pointer + data.length] = 0;
    return pointer;
  }

  /** Runs `use` with data copied into module memory (freed, and wiped, afterwards). */
  withCopy<T>(data: Uint8Array, use: (pointer: number, length: number) => T, terminate = false): T {
    const pointer = this.allocCopy(data, terminate);
    try {
      return use(pointer, data.length + (terminate ? 1 : 0));
    } finally {
      this.bytes().fill(0, pointer, pointer + data.length);
      this.exports.fleet_free(pointer);
    }
  }

  /** A copy of module memory (the memory may be reused or grown right after). */
  copyOut(pointer: number, length: number): Buffer {
    return Buffer.from(this.bytes().subarray(pointer, pointer + length));
  }

  heap(): HeapStats {
    return {
      inUse: this.exports.fleet_heap_in_use(),
      peak: this.exports.fleet_heap_peak(),
      allocations: this.exports.fleet_heap_allocations(),
      size: this.exports.fleet_heap_size(),
    };
  }

  /** 0 when the allocator's chunks and free lists are consistent (tests). */
  heapCheck(): number {
    return this.exports.fleet_heap_check();
  }

  /** Routes the PSK callback of a server session (by its module pointer) to `resolve`. */
  setPskResolver(session: number, resolve: PskResolver | undefined): void {
    if (resolve === undefined) this.#pskResolvers.delete(session);
    else this.#pskResolvers.set(session, resolve);
  }

  /** Routes the revocation check of a server session (by its module pointer) to `check`. */
  setRevocationCheck(session: number, check: RevocationCheck | undefined): void {
    if (check === undefined) this.#revocationChecks.delete(session);
    else this.#revocationChecks.set(session, check);
  }

  #checkRevoked(session: number, serial: number, serialLength: number, subject: number, subjectLength: number): number {
    const check = this.#revocationChecks.get(session);
    if (check === undefined) return 0;
    const bytes = this.bytes();
    const certificate: PeerCertificate = {
      serial: Buffer.from(bytes.subarray(serial, serial + serialLength)).toString('hex').replace(/^0+(?=.)/, ''),
      subject: Buffer.from(bytes.subarray(subject, subject + subjectLength)).toString('utf8'),
    };
    this.#inCallback = true;
    try {
      return check(certificate) ? 1 : 0;
    } catch {
      return 1; // a list that cannot be read fails closed: the handshake is refused, never a crash
    } finally {
      this.#inCallback = false;
    }
  }

  #lookupPsk(session: number, identity: number, identityLength: number, key: number, capacity: number): number {
    const resolve = this.#pskResolvers.get(session);
    if (resolve === undefined) return -1;
    const name = Buffer.from(this.bytes().subarray(identity, identity + identityLength)).toString('utf8');
    let found: Uint8Array | undefined;
    this.#inCallback = true;
    try {
      found = resolve(name);
    } catch {
      return -1; // a failing store is an unknown identity to the peer, never a crash
    } finally {
      this.#inCallback = false;
    }
    if (found === undefined || found.length === 0 || found.length > capacity) return -1;
    this.bytes().set(found, key);
    return found.length;
  }
}
