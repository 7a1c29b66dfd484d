// The firmware store (DESIGN §7): images content-addressed by sha256 under
// `<images>/<sha256>`. An upload streams into a temporary file while it is hashed, and
// becomes the image only when its size and sha256 match the manifest: fsynced, renamed into
// place, the directory fsynced. No image is ever held in memory. A disk without room for
// the image answers 5.03 saying so (DESIGN §7), before the upload or when a write fails,
// and the partial file goes. An upload is receiving until it is stored or discarded, each
// move through its transition().

import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ResponseCode } from '../protocol/codes.js';
import { IllegalTransitionError, ResponseError } from '../protocol/errors.js';
import type { Logger } from '../protocol/interfaces.js';
import { OptionNumber, uintOption } from '../protocol/options.js';
import type { UploadSink } from '../protocol/server-types.js';
import { StoreWriteError } from '../fleet/errors.js';
import { storeWriteError } from '../fleet/store-write-error.js';
import { syncDirectory } from '../fleet/settings-overlay.js';
import { STATE_RETRY_AFTER_S } from './errors.js';

/** What an upload must turn out to be: from the manifest. */
export interface ExpectedImage {
  /** 64 lowercase hex digits. */
  readonly sha256: string;
  readonly size: number;
}

const TEMP_DIRECTORY = '.incoming';
const SHA256_NAME = /^[0-9a-f]{64}$/;

/** Told of every write the disk refused (the gateway logs them, at a bounded rate). */
export type WriteFailureListener = (error: StoreWriteError) => void;

/** The 5.03 an uploader gets when the disk refuses the image; `error` itself when it is
 * not the disk's doing. */
async function refusal(error: unknown, directory: string, needed: number, listener: WriteFailureListener | undefined): Promise<unknown> {
  const failure = error instanceof StoreWriteError ? error : await storeWriteError(error, directory);
  if (failure === undefined) return error;
  listener?.(failure);
  return new ResponseError(ResponseCode.ServiceUnavailable, `${failure.message}: ${needed} bytes of the image to write`, {
    diagnostic: failure.noSpace ? `no space left for the image: ${needed} bytes needed` : `cannot store the image: ${failure.reason}`,
    maxAge: STATE_RETRY_AFTER_S,
  });
}

export class ImageStore {
  readonly #directory: string;
  readonly #onWriteFailure: WriteFailureListener | undefined;
  readonly #logger: Logger | undefined;

  private constructor(directory: string, onWriteFailure: WriteFailureListener | undefined, logger: Logger | undefined) {
    this.#directory = directory;
    this.#onWriteFailure = onWriteFailure;
    this.#logger = logger;
  }

  /** Opens the store, removing temporary files an interrupted upload left behind. Uploads
   * log their moves at debug on `logger`. */
  static async open(directory: string, onWriteFailure?: WriteFailureListener, logger?: Logger): Promise<ImageStore> {
    const temp = join(directory, TEMP_DIRECTORY);
    await mkdir(temp, { recursive: true });
    for (const name of await readdir(temp)) await rm(join(temp, name), { force: true });
    return new ImageStore(directory, onWriteFailure, logger);
  }

  pathOf(sha256: string): string {
    return join(this.#directory, sha256);
  }

  /** The stored image's size, or undefined when there is none. */
  async sizeOf(sha256: string): Promise<number | undefined> {
    try {
      const info = await stat(this.pathOf(sha256));
      return info.isFile() ? info.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether the image is stored with the size the manifest gives. */
  async has(expected: ExpectedImage): Promise<boolean> {
    return (await this.sizeOf(expected.sha256)) === expected.size;
  }

  /** How many images are stored. */
  async count(): Promise<number> {
    return (await readdir(this.#directory)).filter((name) => SHA256_NAME.test(name)).length;
  }

  /** Temporary files of uploads in progress (tests check nothing is left behind). */
  async incomingFiles(): Promise<string[]> {
    return readdir(join(this.#directory, TEMP_DIRECTORY));
  }

  /** A temporary file for the image; 5.03 at once when the disk has not room for it. */
  async beginUpload(expected: ExpectedImage): Promise<ImageUpload> {
    const { bavail, bsize } = await statfs(this.#directory);
    if (bavail * bsize < expected.size) {
      const full = new StoreWriteError(this.#directory, true, `${bavail * bsize} bytes free`);
      throw await refusal(full, this.#directory, expected.size, this.#onWriteFailure);
    }
    const path = join(this.#directory, TEMP_DIRECTORY, `${randomUUID()}.part`);
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      throw await refusal(error, this.#directory, expected.size, this.#onWriteFailure);
    }
    return new ImageUpload(handle, path, this.#directory, expected, this.#onWriteFailure, this.#logger);
  }
}

export type UploadState = 'receiving' | 'stored' | 'discarded';

const allowedUploadTransitions: Record<UploadState, readonly UploadState[]> = {
  receiving: ['stored', 'discarded'],
  stored: [],
  discarded: [],
};

/** One upload's temporary file, written in order as Block1 delivers it (RFC 7959 §2.5). */
export class ImageUpload implements UploadSink {
  readonly #handle: FileHandle;
  readonly #path: string;
  readonly #directory: string;
  readonly #expected: ExpectedImage;
  readonly #onWriteFailure: WriteFailureListener | undefined;
  readonly #logger: Logger | undefined;
  readonly #hash: Hash = createHash('sha256');
  #received = 0;
  #state: UploadState = 'receiving';
  /** The temporary file's removal, from the move to `discarded` on. */
  #discarding: Promise<void> | undefined;

  constructor(
    handle: FileHandle, path: string, directory: string, expected: ExpectedImage, onWriteFailure?: WriteFailureListener, logger?: Logger,
  ) {
    this.#handle = handle;
    this.#path = path;
    this.#directory = directory;
    this.#expected = expected;
    this.#onWriteFailure = onWriteFailure;
    this.#logger = logger;
  }

  get received(): number {
    return this.#received;
  }

  get state(): UploadState {
    return this.#state;
  }

  async write(chunk: Buffer, offset: number): Promise<void> {
    if (this.#state !== 'receiving') throw new ResponseError(ResponseCode.RequestEntityIncomplete, `upload already ${this.#state}`);
    if (offset !== this.#received) {
      await this.abort();
      throw new ResponseError(ResponseCode.RequestEntityIncomplete, `block at ${offset}, expected ${this.#received}`, { diagnostic: 'out-of-order block' });
    }
    if (offset + chunk.length > this.#expected.size) {
      // The reassembler keeps a failed upload until it expires: the file goes now.
      await this.abort();
      throw new ResponseError(ResponseCode.RequestEntityTooLarge, `image over the manifest's ${this.#expected.size} bytes`, {
        diagnostic: `the manifest says ${this.#expected.size} bytes`, options: [uintOption(OptionNumber.Size1, this.#expected.size)],
      });
    }
    let written = 0;
    try {
      while (written < chunk.length) {
        const { bytesWritten } = await this.#handle.write(chunk, written, chunk.length - written, offset + written);
        written += bytesWritten;
      }
    } catch (error) {
      await this.abort();
      throw await refusal(error, this.#directory, this.#expected.size - offset, this.#onWriteFailure);
    }
    this.#hash.update(chunk);
    this.#received += chunk.length;
  }

  /** The whole image is in: checked against the manifest, then made durable and moved to
   * its content address. A mismatch removes the file and answers 4.00 saying which. */
  async complete(): Promise<string> {
    if (this.#state !== 'receiving') throw new ResponseError(ResponseCode.RequestEntityIncomplete, `upload already ${this.#state}`);
    const { size, sha256 } = this.#expected;
    if (this.#received !== size) {
      await this.abort();
      throw new ResponseError(ResponseCode.BadRequest, `received ${this.#received} bytes, manifest says ${size}`, {
        diagnostic: `size mismatch: received ${this.#received} bytes, the manifest says ${size}`,
      });
    }
    const actual = this.#hash.digest('hex');
    if (actual !== sha256) {
      await this.abort();
      throw new ResponseError(ResponseCode.BadRequest, `sha256 ${actual}, manifest says ${sha256}`, {
        diagnostic: `sha256 mismatch: got ${actual}, the manifest says ${sha256}`,
      });
    }
    const target = join(this.#directory, sha256);
    try {
      await this.#handle.sync();
      await this.#handle.close();
      await rename(this.#path, target);
      await syncDirectory(this.#directory);
    } catch (error) {
      await this.abort();
      throw await refusal(error, this.#directory, size, this.#onWriteFailure);
    }
    this.#transition('stored');
    return target;
  }

  /** Removes the temporary file; does nothing once stored or already discarded. */
  async abort(): Promise<void> {
    if (this.#state === 'receiving') this.#transition('discarded');
    await this.#discarding;
  }

  #transition(to: UploadState): void {
    const from = this.#state;
    if (!allowedUploadTransitions[from].includes(to)) throw new IllegalTransitionError('image upload', from, to);
    this.#state = to;
    this.#logger?.debug({ sha256: this.#expected.sha256, received: this.#received, from, to }, `image upload ${from} -> ${to}`);
    switch (to) {
      case 'discarded':
        this.#discarding = (async () => {
          await this.#handle.close().catch(() => {});
          await rm(this.#path, { force: true });
        })();
        break;
      case 'stored':
      case 'receiving':
        break;
      default: {
        const never: never = to;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }
}

