// `coap-fleet observe URI`: registers as an observer (RFC 7641 §3.1), prints the first
// response and every notification as it arrives, and on SIGINT, SIGTERM or --for cancels
// actively with a GET carrying Observe = 1 (§3.6) before the socket closes, so the server
// forgets us at once instead of at its next notification.

import type { CoapResponse } from '../protocol/client.js';
import { describeCode, isSuccessCode } from '../protocol/codes.js';
import { RequestTimeoutError } from '../protocol/errors.js';
import type { Observation } from '../protocol/observe-client.js';
import { getUintOption, OptionNumber } from '../protocol/options.js';
import { formatFlags, parseArgs, parseNumber, type FlagValues } from './args.js';
import { UsageError } from './errors.js';
import { CREDENTIALS_FLAG, DTLS_FLAGS } from './dtls-flags.js';
import { formatResponseHeader, payloadInline, responseToJson, type CliIo } from './output.js';
import { contentFormatFlag, openEndpoint, targetUri, timeoutFlag } from './request-command.js';

export const OBSERVE_FLAGS = {
  accept: { type: 'string', value: 'F', description: 'Accept: the format wanted in the notifications' },
  for: { type: 'string', value: 'SECONDS', description: 'stop (and deregister) this long after registering' },
  timeout: { type: 'string', value: 'SECONDS', description: 'give up registering after this long (default 93 s)' },
  verbose: { type: 'boolean', short: 'v', description: 'print code, type and options with each notification' },
  json: { type: 'boolean', description: 'print one JSON object per line: the response, observe and time' },
  ...CREDENTIALS_FLAG,
  ...DTLS_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

type ObserveFlags = FlagValues<typeof OBSERVE_FLAGS>;

/** setTimeout's limit is 2^31 - 1 ms; a longer --for would fire at once. */
const MAX_FOR_SECONDS = 24 * 24 * 3600;
/** How long a stop waits for the server to answer the deregistration; a server that has
 * gone away should not hold up Ctrl-C for MAX_TRANSMIT_WAIT. */
const CANCEL_GRACE_MS = 3000;

export function observeUsage(): string {
  return 'Usage: coap-fleet observe URI [options]\n\n'
    + 'Registers as an observer of a coap:// or coaps:// resource (RFC 7641) and prints the\n'
    + 'first response and each notification as it arrives: one line with the time, the Observe\n'
    + 'number, the code and the payload. SIGINT (Ctrl-C), SIGTERM or --for end it with an active\n'
    + 'deregistration (GET with Observe = 1). An answer without Observe means the server did\n'
    + 'not register us (the resource is not observable, or its observer limit is reached): that\n'
    + 'one response is printed, a line on stderr says so, and the command ends with status 1.\n'
    + 'A coaps:// URI goes over DTLS with --credentials FILE, --psk-identity and --psk-key (or\n'
    + '--psk-key-hex), or --ca (with --cert, --key).\n\n'
    + 'Exit status: 0 on a stop; 1 when the answer or the last notification is 4.xx/5.xx, or the\n'
    + 'registration was not taken; 2 for usage errors; 3 for timeouts and transport errors.\n\n'
    + `Options:\n${formatFlags(OBSERVE_FLAGS)}`;
}

const observeNumber = (response: CoapResponse): number | undefined => getUintOption(response.options, OptionNumber.Observe);

/** One response in the chosen form: a line, a -v block or a JSON line. */
function printNotification(response: CoapResponse, flags: ObserveFlags, io: CliIo): void {
  const time = new Date().toISOString();
  const observe = observeNumber(response);
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify({ ...responseToJson(response), observe: observe ?? null, time })}\n`);
    return;
  }
  const sequence = observe === undefined ? 'observe=-' : `observe=${observe}`;
  if (flags.verbose === true) {
    io.stdout.write(`${time} ${sequence}\n${formatResponseHeader(response)}`);
    io.stdout.write(response.payload);
    io.stdout.write(response.payload.length === 0 || response.payload.at(-1) === 0x0a ? '\n' : '\n\n');
    return;
  }
  const payload = response.payload.length === 0 ? '' : ` ${payloadInline(response.payload)}`;
  io.stdout.write(`${time} ${sequence} ${describeCode(response.code)}${payload}\n`);
}

const statusOf = (response: CoapResponse): number => (isSuccessCode(response.code) ? 0 : 1);
/** A registration the server did not take: status 1, as for an error response (main.ts). */
const NOT_OBSERVED = 1;

/** A promise settled from outside; here, the reason the command should stop. */
function stopSignal(): { promise: Promise<string>; stop(reason: string): void } {
  let stop: (reason: string) => void = () => {};
  const promise = new Promise<string>((resolve) => { stop = resolve; });
  return { promise, stop };
}

/** Runs `promise` for at most `ms`; the timer goes either way, so it holds no process up. */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

type Registration =
  | { readonly kind: 'registered'; readonly observation: Observation; readonly first: CoapResponse }
  | { readonly kind: 'stopped'; readonly reason: string }
  | { readonly kind: 'timeout' };

export async function runObserveCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, OBSERVE_FLAGS);
  if (flags.help === true) {
    io.stdout.write(observeUsage());
    return 0;
  }
  if (flags.json === true && flags.verbose === true) throw new UsageError('--json and --verbose do not combine');
  const { text, uri } = targetUri(positionals);
  const accept = contentFormatFlag(flags.accept, 'accept');
  const timeoutMs = timeoutFlag(flags.timeout);
  const forMs = flags.for === undefined ? undefined : parseNumber(flags.for, 'for', { min: 0.001, max: MAX_FOR_SECONDS }) * 1000;

  // Listening for signals from the start: once we handle SIGINT it no longer kills us, so
  // every stage from here on must answer it.
  const stopping = stopSignal();
  void io.shutdown().then((signal) => stopping.stop(signal));
  // Aborted when we give up on the server: settles whatever exchange is still open (a
  // registration, a deregistration without answer) so close() leaves nothing waiting.
  const abandon = new AbortController();
  const endpoint = await openEndpoint(uri, undefined, flags);
  let deadline: NodeJS.Timeout | undefined;
  try {
    const registration = endpoint.observe({
      uri: text, signal: abandon.signal, ...(accept === undefined ? {} : { accept }),
    });
    // The observation retries a lost registration; --timeout bounds all of its attempts.
    const registrationMs = timeoutMs ?? endpoint.messageLayer.times.maxTransmitWait;
    const outcome = await Promise.race<Registration>([
      registration.then(({ observation, first }) => ({ kind: 'registered', observation, first })),
      stopping.promise.then((reason) => ({ kind: 'stopped', reason })),
      new Promise((resolve) => { deadline = setTimeout(() => resolve({ kind: 'timeout' }), registrationMs); }),
    ]);
    if (outcome.kind !== 'registered') {
      abandon.abort();
      // A response that won the race by a hair: the server gets RST at its next notification.
      const late = await registration.catch(() => undefined);
      late?.observation.forget();
      if (outcome.kind === 'timeout') throw new RequestTimeoutError(`no answer to the registration within ${registrationMs} ms`);
      if (flags.verbose === true) io.stderr.write(`coap-fleet: stopped by ${outcome.reason} before the registration was answered\n`);
      return 0;
    }
    clearTimeout(deadline);
    const { observation, first } = outcome;
    printNotification(first, flags, io);
    if (!isSuccessCode(first.code)) {
      if (flags.json !== true) io.stderr.write(`coap-fleet: ${describeCode(first.code)}\n`);
      return statusOf(first);
    }
    if (observeNumber(first) === undefined) {
      // RFC 7641 §4.1: a server that does not add us as an observer answers as to a plain
      // GET. Nothing more will come, which a script waiting for changes must hear.
      io.stderr.write('coap-fleet: not observed: the server served a plain response (observer limit reached or resource not observable)\n');
      return NOT_OBSERVED;
    }
    return await followNotifications(observation, first, forMs, stopping, flags, io);
  } finally {
    clearTimeout(deadline);
    abandon.abort();
    await endpoint.close();
  }
}

/** Prints notifications until a stop (then deregisters) or until the server ends the
 * relation (a notification without Observe, or an error, RFC 7641 §3.2). */
async function followNotifications(
  observation: Observation, first: CoapResponse, forMs: number | undefined,
  stopping: ReturnType<typeof stopSignal>, flags: ObserveFlags, io: CliIo,
): Promise<number> {
  const forTimer = forMs === undefined ? undefined : setTimeout(() => stopping.stop(`--for ${forMs / 1000}`), forMs);
  try {
    let stopReason: string | undefined;
    // cancel() ends the iteration below at once, then sends the deregistration.
    const cancelled = stopping.promise.then(async (reason) => {
      stopReason = reason;
      await atMost(observation.cancel(), CANCEL_GRACE_MS);
    });
    let last = first;
    for await (const notification of observation) {
      printNotification(notification, flags, io);
      last = notification;
    }
    if (stopReason !== undefined) {
      await cancelled;
      if (flags.verbose === true) io.stderr.write(`coap-fleet: stopped by ${stopReason}: deregistered\n`);
      return 0;
    }
    if (flags.json !== true) io.stderr.write(`coap-fleet: the server ended the observation with ${describeCode(last.code)}\n`);
    return statusOf(last);
  } finally {
    clearTimeout(forTimer);
  }
}
