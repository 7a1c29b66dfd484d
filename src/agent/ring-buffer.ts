// A bounded history: the newest `capacity` items, oldest first; adding to a full one
// drops the oldest. Fixed storage, no shifting, whatever the capacity.

export class RingBuffer<T> {
  readonly #items: (T | undefined)[];
  /** Where the next item goes. */
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring buffer capacity ${capacity}`);
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    this.#size = Math.min(this.#size + 1, this.#items.length);
  }

  /** The newest item, undefined when empty. */
  newest(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[(this.#next - 1 + this.#items.length) % this.#items.length];
  }

  /** Every item, oldest first. */
  toArray(): T[] {
    const start = (this.#next - this.#size + this.#items.length) % this.#items.length;
    return Array.from({ length: this.#size }, (_, index) => this.#items[(start + index) % this.#items.length] as T);
  }
}
