// A request body kept in memory through the upload-sink path, for resources whose bodies
// may exceed one request's bound but stay small (a manifest of 10,000 targets and 65,536
// chunk hashes): the router creates the sink only after the access table said yes, so a
// caller who may not POST never gets a byte held (RFC 7959 §2.5 leaves the reassembly to
// the server). What all such bodies hold at once is bounded, in all and per caller
// (BodyBudget), so a few large uploads cannot take the gateway's memory (DESIGN §10: 200 MB).

import { ResponseCode } from '../protocol/codes.js';
import { ResponseError } from '../protocol/errors.js';
import { OptionNumber, uintOption } from '../protocol/options.js';
import type { UploadSink } from '../protocol/server-types.js';

/** Bytes of request bodies held in memory, in all and per caller (a principal). */
export class BodyBudget {
  readonly #total: number;
  readonly #perCaller: number;
  readonly #held = new Map<string, number>();
  #heldTotal = 0;

  constructor(limits: { readonly totalBytes: number; readonly perCallerBytes: number }) {
    this.#total = limits.totalBytes;
    this.#perCaller = limits.perCallerBytes;
  }

  get held(): number {
    return this.#heldTotal;
  }

  /** Takes `bytes` for `caller`; 5.03 with Max-Age when either bound would be passed (the
   * caller's other uploads finish, or others', and it may try again). */
  take(caller: string, bytes: number): void {
    const mine = this.#held.get(caller) ?? 0;
    if (mine + bytes > this.#perCaller || this.#heldTotal + bytes > this.#total) {
      const whose = mine + bytes > this.#perCaller ? `${caller}'s uploads hold ${mine} bytes` : `uploads hold ${this.#heldTotal} bytes`;
      throw new ResponseError(ResponseCode.ServiceUnavailable, `${whose}: no room for more now`, { diagnostic: `${whose}; try again shortly`, maxAge: 5 });
    }
    this.#held.set(caller, mine + bytes);
    this.#heldTotal += bytes;
  }

  give(caller: string, bytes: number): void {
    if (bytes === 0) return;
    const left = (this.#held.get(caller) ?? 0) - bytes;
    if (left <= 0) this.#held.delete(caller);
    else this.#held.set(caller, left);
    this.#heldTotal -= bytes;
  }
}

export class BufferUpload implements UploadSink {
  readonly #limit: number;
  readonly #budget: BodyBudget;
  readonly #caller: string;
  readonly #chunks: Buffer[] = [];
  #received = 0;
  #body: Buffer | undefined;

  constructor(limit: number, budget: BodyBudget, caller: string) {
    this.#limit = limit;
    this.#budget = budget;
    this.#caller = caller;
  }

  write(chunk: Buffer, offset: number): void {
    // The reassembler delivers blocks in order; anything else is a bug upstream.
    if (offset !== this.#received) throw new ResponseError(ResponseCode.RequestEntityIncomplete, `block at ${offset}, expected ${this.#received}`);
    if (offset + chunk.length > this.#limit) {
      throw new ResponseError(ResponseCode.RequestEntityTooLarge, `body over ${this.#limit} bytes`, { options: [uintOption(OptionNumber.Size1, this.#limit)] });
    }
    this.#budget.take(this.#caller, chunk.length);
    this.#chunks.push(Buffer.from(chunk));
    this.#received += chunk.length;
  }

  abort(): void {
    this.#release();
  }

  /** The whole body; from then on it is the handler's, and off the budget. */
  bytes(): Buffer {
    if (this.#body === undefined) {
      this.#body = Buffer.concat(this.#chunks);
      this.#release();
    }
    return this.#body;
  }

  #release(): void {
    this.#budget.give(this.#caller, this.#received);
    this.#chunks.length = 0;
    this.#received = 0;
  }
}
