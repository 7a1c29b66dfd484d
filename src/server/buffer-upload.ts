// A request body kept in memory through the upload-sink path, for resources whose bodies
// may exceed one request's bound but stay small (a manifest of 10,000 targets): the
// router creates the sink only after the access table said yes, so a caller who may not
// POST never gets a byte held (RFC 7959 §2.5 leaves the reassembly to the server).

import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { OptionNumber, uintOption } from '../protocol/options.js';
import type { UploadSink } from '../protocol/server-types.js';

export class BufferUpload implements UploadSink {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #received = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  write(chunk: Buffer, offset: number): void {
    // The reassembler delivers blocks in order; anything else is a bug upstream.
    if (offset !== this.#received) throw new ResponseError(ResponseCode.RequestEntityIncomplete, `block at ${offset}, expected ${this.#received}`);
    if (offset + chunk.length > this.#limit) {
      throw new ResponseError(ResponseCode.RequestEntityTooLarge, `body over ${this.#limit} bytes`, { options: [uintOption(OptionNumber.Size1, this.#limit)] });
    }
    this.#chunks.push(Buffer.from(chunk));
    this.#received += chunk.length;
  }

  abort(): void {
    this.#chunks.length = 0;
    this.#received = 0;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
