// The plugtest resources for Observe (RFC 7641; ETSI TD_COAP_OBS_*) and Block-wise
// (RFC 7959; TD_COAP_BLOCK_*): values that change on a timer and are notified while someone
// observes them, representations larger than one block, and block-wise PUT and POST.

import type { BodySource } from '../protocol/body.js';
import { ResponseCode } from '../protocol/codes.js';
import { ContentFormat } from '../protocol/content-formats.js';
import type { Endpoint } from '../protocol/endpoint.js';
import type { LinkAttribute } from '../protocol/link-format.js';
import { OBSERVE_REGISTER } from '../protocol/observe-sequence.js';
import { getUintOption, OptionNumber, stringOption } from '../protocol/options.js';
import type { CoapRequest, ResponseInit } from '../protocol/server-types.js';
import { fromRequest, MAX_STORED_PAYLOAD, representation, respondWith, type Representation } from './plugtest-representation.js';

/** How often /obs, /obs-non and /obs-large change (ETSI: every 5 seconds). */
export const OBSERVE_INTERVAL_MS = 5_000;
/** How often /obs-pumping changes: faster than a CON notification is acknowledged on a
 * slow link, so its observers see only the newest state (RFC 7641 §4.5.2). */
export const PUMPING_INTERVAL_MS = 200;
/** The largest body PUT to /large-update (Block1, RFC 7959 §2.5); larger gets 4.13. */
export const LARGE_UPDATE_MAX_SIZE = 2 * 1024 * 1024;
/** Representations /large-create keeps; the oldest goes first. With MAX_STORED_PAYLOAD each,
 * this bounds the resource's memory. */
const MAX_CREATED = 8;
/** 1,280 bytes of text: five 256-byte blocks of four 64-byte lines, so a Block2 transfer
 * of any size shows which block arrived (as Californium's /large does). */
export const LARGE_TEXT: string = (() => {
  const lines: string[] = [];
  for (let block = 1; block <= 5; block++) {
    for (let line = 1; line <= 4; line++) {
      lines.push(`| RESOURCE BLOCK NO. ${block} OF 5, LINE ${line} OF 4`.padEnd(62, ' ') + '|');
    }
  }
  return `${lines.join('\n')}\n`;
})();

const LINE_BYTES = 64;
const LARGE_FILE_LINES = 16_384;

/** /large-file: 1 MiB of numbered 64-byte text lines, generated per read so the server holds
 * none of it; any byte range can be checked against it. */
export const LARGE_FILE: BodySource = {
  size: LARGE_FILE_LINES * LINE_BYTES,
  read(offset, length) {
    const end = Math.min(offset + length, LARGE_FILE_LINES * LINE_BYTES);
    if (end <= offset) return Buffer.alloc(0);
    const first = Math.floor(offset / LINE_BYTES);
    const last = Math.ceil(end / LINE_BYTES);
    let text = '';
    for (let line = first; line < last; line++) {
      text += `| LARGE FILE LINE ${String(line + 1).padStart(5, '0')} OF ${LARGE_FILE_LINES}`.padEnd(LINE_BYTES - 2, ' ') + '|\n';
    }
    return Buffer.from(text, 'ascii').subarray(offset - first * LINE_BYTES, end - first * LINE_BYTES);
  },
};

export interface ObserveAndBlockOptions {
  /** Aborting it stops the timers that drive the notifications. */
  readonly signal?: AbortSignal;
  /** Default OBSERVE_INTERVAL_MS; tests make it shorter. */
  readonly observeIntervalMs?: number;
  /** Default PUMPING_INTERVAL_MS. */
  readonly pumpingIntervalMs?: number;
}

/** A value that changes every `intervalMs`: its state is the start of the current period,
 * so every request within one period (a notification and the GETs for its further blocks)
 * sees the same bytes and ETag. A timer notifies the paths' observers at each period
 * boundary; it runs only while someone observes one of them, starts again when an observer
 * registers, and stops for good when the signal aborts (the server closes). */
class Ticker {
  readonly #endpoint: Endpoint;
  readonly #paths: readonly string[];
  readonly intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #notifiedPeriod = 0;
  #stopped = false;

  constructor(endpoint: Endpoint, paths: readonly string[], intervalMs: number, signal: AbortSignal | undefined) {
    if (!(intervalMs >= 1)) throw new RangeError(`a change interval of ${intervalMs} ms`);
    this.#endpoint = endpoint;
    this.#paths = paths;
    this.intervalMs = intervalMs;
    signal?.addEventListener('abort', () => this.stop(), { once: true });
    if (signal?.aborted === true) this.stop();
  }

  /** Milliseconds since the epoch when the current state began. */
  period(): number {
    return Math.floor(Date.now() / this.intervalMs) * this.intervalMs;
  }

  /** Seconds the state stays fresh (Max-Age, RFC 7252 §5.10.5): the interval, rounded up. */
  get maxAge(): number {
    return Math.ceil(this.intervalMs / 1000);
  }

  /** A request that may register an observer: make sure the timer runs. */
  onRequest(request: CoapRequest): void {
    if (getUintOption(request.options, OptionNumber.Observe) !== OBSERVE_REGISTER || this.#timer !== undefined) return;
    // The registration's answer carries this period's state: the first notification is
    // for the next one, even if the timer fires a little before the clock turns.
    this.#notifiedPeriod = this.period();
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#tick(), this.intervalMs - (Date.now() % this.intervalMs));
  }

  #tick(): void {
    this.#timer = undefined;
    const observed = this.#paths.filter((path) => this.#endpoint.observers(path) > 0);
    if (observed.length === 0) return;
    // Timers run on the monotonic clock and may fire a little before the wall clock
    // reaches the boundary: then nothing changed yet and the next tick notifies.
    const period = this.period();
    if (period !== this.#notifiedPeriod) {
      this.#notifiedPeriod = period;
      for (const path of observed) this.#endpoint.notify(path);
    }
    this.#arm();
  }
}

/** The state of a ticking resource: the ISO time its current period began, an ETag that
 * names the period, and Max-Age until the next change. */
function ticking(ticker: Ticker, request: CoapRequest, suffix = ''): ResponseInit {
  ticker.onRequest(request);
  const period = ticker.period();
  const etag = Buffer.alloc(6);
  etag.writeUIntBE(period, 0, 6);
  return {
    code: ResponseCode.Content,
    payload: `${new Date(period).toISOString()}${suffix}`,
    contentFormat: ContentFormat.TextPlain,
    maxAge: ticker.maxAge,
    etag,
  };
}

// One rt per link, its value a list (RFC 6690 §3.1).
const observable = (title: string, resourceTypes = 'observe'): LinkAttribute[] => [
  { name: 'title', value: title }, { name: 'rt', value: resourceTypes }, { name: 'ct', value: '0' }, { name: 'obs' },
];

const block = (title: string, size?: number): LinkAttribute[] => [
  { name: 'title', value: title }, { name: 'rt', value: 'block' },
  ...(size === undefined ? [] : [{ name: 'sz', value: String(size) }]),
];

export function addObserveAndBlockResources(endpoint: Endpoint, options: ObserveAndBlockOptions = {}): void {
  addObserveResources(endpoint, options);
  addBlockResources(endpoint);
}

/** TD_COAP_OBS_*: /obs notifies in CON messages (TD_COAP_OBS_01, "observation with CON
 * messages"); the others take the endpoint's default: NON, and every
 * `observeLimits.confirmableEvery`-th one CON (RFC 7641 §4.5). */
function addObserveResources(endpoint: Endpoint, options: ObserveAndBlockOptions): void {
  const { router } = endpoint;
  const slow = new Ticker(endpoint, ['/obs', '/obs-non', '/obs-large'], options.observeIntervalMs ?? OBSERVE_INTERVAL_MS, options.signal);
  const pumping = new Ticker(endpoint, ['/obs-pumping'], options.pumpingIntervalMs ?? PUMPING_INTERVAL_MS, options.signal);
  const every = (ticker: Ticker): string => (ticker.intervalMs % 1000 === 0 ? `${ticker.intervalMs / 1000} seconds` : `${ticker.intervalMs} ms`);

  router.add('/obs', {
    observable: 'confirmable',
    handlers: { GET: (request) => ticking(slow, request) },
    attributes: observable(`Observable resource which changes every ${every(slow)}`),
  });
  router.add('/obs-non', {
    observable: true,
    handlers: { GET: (request) => ticking(slow, request) },
    attributes: observable(`Observable resource which changes every ${every(slow)}, notified in NON messages`),
  });
  router.add('/obs-pumping', {
    observable: true,
    handlers: { GET: (request) => ticking(pumping, request) },
    attributes: observable(`Observable resource which changes every ${every(pumping)}, faster than notifications are acknowledged`),
  });
  // Each notification carries block 0 only; the observer asks for the rest with GET
  // (RFC 7959 §2.6), and the ETag tells it when a block belongs to a newer state.
  router.add('/obs-large', {
    observable: true,
    handlers: { GET: (request) => ticking(slow, request, `\n${LARGE_TEXT}`) },
    attributes: observable(`Observable resource larger than one block which changes every ${every(slow)}`, 'observe block'),
  });
}

/** TD_COAP_BLOCK_*: Block2 is the endpoint's for any response over one block (RFC 7959
 * §2.4), Block1 reassembly up to each resource's `upload.maxSize` (§2.5, 4.13 past it). */
function addBlockResources(endpoint: Endpoint): void {
  const { router } = endpoint;
  const large = representation(Buffer.from(LARGE_TEXT), ContentFormat.TextPlain);
  let largeUpdate: Representation = large;
  /** Created by POST /large-create, by id in creation order; at most MAX_CREATED. */
  const created = new Map<string, Representation>();
  let nextId = 1;

  router.add('/large', {
    handlers: { GET: (request) => respondWith(request, large) },
    attributes: [...block('Large resource', large.payload.length), { name: 'ct', value: '0' }],
  });
  router.add('/large-file', {
    handlers: { GET: () => ({ code: ResponseCode.Content, body: LARGE_FILE, contentFormat: ContentFormat.TextPlain, etag: Buffer.from('large-1') }) },
    attributes: [...block('Large resource of 1 MiB', LARGE_FILE.size), { name: 'ct', value: '0' }],
  });
  router.add('/large-update', {
    handlers: {
      GET: (request) => respondWith(request, largeUpdate),
      PUT: (request) => {
        largeUpdate = fromRequest(request);
        return { code: ResponseCode.Changed, etag: largeUpdate.etag };
      },
    },
    upload: { maxSize: LARGE_UPDATE_MAX_SIZE },
    attributes: block('Large resource that can be updated using PUT', Buffer.byteLength(LARGE_TEXT)),
  });
  router.add('/large-create', {
    handlers: {
      POST: (request) => {
        const id = String(nextId++);
        created.set(id, fromRequest(request));
        if (created.size > MAX_CREATED) created.delete(created.keys().next().value!);
        return {
          code: ResponseCode.Created,
          options: [stringOption(OptionNumber.LocationPath, 'large-create'), stringOption(OptionNumber.LocationPath, id)],
        };
      },
    },
    upload: { maxSize: MAX_STORED_PAYLOAD },
    attributes: block('Large resource that can be created using POST'),
  });
  router.add('/large-create/{id}', {
    handlers: {
      GET: (request) => {
        const current = created.get(request.params.id!);
        return current === undefined ? { code: ResponseCode.NotFound } : respondWith(request, current);
      },
      DELETE: (request) => {
        created.delete(request.params.id!);
        return { code: ResponseCode.Deleted };
      },
    },
  });
  router.add('/large-post', {
    handlers: { POST: (request) => echo(request) },
    upload: { maxSize: MAX_STORED_PAYLOAD },
    attributes: block('Large resource that echoes what is POSTed to it'),
  });
}

/** The body POSTed, echoed whole: a large one goes back block-wise, the client fetching
 * the later blocks with POST and Block2 (RFC 7959 §3.3, Figure 9). */
function echo(request: CoapRequest): ResponseInit {
  return {
    code: ResponseCode.Changed,
    payload: request.payload,
    ...(request.contentFormat === undefined ? {} : { contentFormat: request.contentFormat }),
  };
}
