// The gateway as a proxy (issue 11, "Done when"): what a GET forwarded to a node's agent
// over the agent's own DTLS session costs the gateway, beside a GET the gateway answers
// itself, and what it costs in latency; uncached (the agent's /system/config, Max-Age 0)
// and from the gateway's response cache (/services, Max-Age 5). Real processes: the
// gateway and one agent (proxy-fleet.ts), the operator's DTLS client here. Beside it,
// libcoap's example server as a plain-UDP forward proxy (`coap-server-notls -P`, Proxy-Uri)
// in front of another one: the same three processes' roles, without DTLS.
// Loopback only, ephemeral ports; every child killed at the end.

import { cpus, loadavg } from 'node:os';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import type { CoapResponse } from '../../src/protocol/client.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { getUintOption, OptionNumber, stringOption } from '../../src/protocol/options.js';
import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { closedLoop, quantile, type LoopResult } from './closed-loop.js';
import { cpuSecondsFine, cpuSplitSeconds } from './proc-stats.js';
import { startFleet, NODE_ID, type BenchFleet } from './proxy-fleet.js';
import { killAllServers, libcoapServer, startServer, type RunningServer } from './servers.js';

const BENCH = 'proxy';
const LIBCOAP = 'libcoap (plain UDP)';
const ROUNDS = 5;
const ROUND_MS = 800;
const WARMUP_MS = 1000;
/** K: requests outstanding, each from an operator client (a DTLS session) of its own, since
 * one endpoint has one confirmable request out to a server at a time (NSTART = 1). The
 * gateway forwards at most 8 requests to one node at once (NodeLink's pendingPerNode; a
 * 9th is 5.03), so K stops at 8. */
const CONCURRENCY = [1, 8] as const;
const MAX_PER_ROUND = 60_000;
const TIMEOUT_MS = 5_000;
const HOST = '127.0.0.1';

type Case = 'direct' | 'proxied' | 'coalesced' | 'cached';

/** One thing measured: a GET sent by `send`, answered by the `front` process (the gateway,
 * libcoap's proxy), maybe forwarded to the `back` one (the agent, libcoap's origin). */
interface Subject {
  readonly impl: string;
  readonly kind: Case;
  readonly describe: string;
  readonly frontPid: number;
  readonly backPid: number;
  /** Request `index`, through worker `worker`'s endpoint. */
  send(index: number, worker: number): Promise<CoapResponse>;
  check(response: CoapResponse): string | undefined;
}

interface Sample {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly frontUs: number;
  readonly backUs: number;
  /** The front process's user and system CPU seconds in the round (clock ticks). */
  readonly frontUser: number;
  readonly frontSystem: number;
}

const say = (text: string): void => { process.stderr.write(`  proxy: ${text}\n`); };

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[sorted.length >> 1]!;
};

/** A 2.05, and a Max-Age within `maxAge` (inclusive) when given. */
const content = (maxAge?: readonly [number, number]) => (response: CoapResponse): string | undefined => {
  if (response.code !== ResponseCode.Content) return `answered ${response.code >> 5}.${String(response.code & 31).padStart(2, '0')}: ${response.payload.toString('utf8').slice(0, 200)}`;
  if (maxAge === undefined) return undefined;
  const age = getUintOption(response.options, OptionNumber.MaxAge) ?? 60;
  return age >= maxAge[0] && age <= maxAge[1] ? undefined : `Max-Age ${age}, expected ${maxAge[0]}..${maxAge[1]}`;
};

function ourSubjects(fleet: BenchFleet): Subject[] {
  const target = { address: HOST, port: fleet.port };
  const get = (worker: number, path: readonly string[], query: readonly string[] = []): Promise<CoapResponse> =>
    fleet.operators[worker]!.endpoint.request({ peer: target, method: Method.GET, path, query, accept: ContentFormat.Json, timeoutMs: TIMEOUT_MS });
  const node = ['nodes', NODE_ID];
  const common = { impl: OURS, frontPid: fleet.gatewayPid, backPid: fleet.agentPid };
  return [
    { ...common, kind: 'direct', describe: `GET /nodes/${NODE_ID} (the gateway's own NodeView)`, send: (_, worker) => get(worker, node), check: content() },
    {
      ...common, kind: 'proxied', describe: `GET /nodes/${NODE_ID}/system/config?n=I (forwarded; Max-Age 0; a distinct query each, so no two share an upstream request)`,
      // The agent ignores the query; a distinct one keeps the gateway from letting
      // concurrent GETs of one key wait on one upstream request (forwarder.ts).
      send: (index, worker) => get(worker, [...node, 'system', 'config'], [`n=${index}`]), check: content([0, 0]),
    },
    {
      ...common, kind: 'coalesced', describe: `GET /nodes/${NODE_ID}/system/config (forwarded; the same URI from every worker: GETs that arrive while one is out wait for its answer)`,
      send: (_, worker) => get(worker, [...node, 'system', 'config']), check: content([0, 0]),
    },
    { ...common, kind: 'cached', describe: `GET /nodes/${NODE_ID}/services (forwarded once per Max-Age 5 s, else from the gateway's cache)`, send: (_, worker) => get(worker, [...node, 'services']), check: content([0, 5]) },
  ];
}

function libcoapSubjects(endpoints: readonly Endpoint[], proxy: RunningServer, origin: RunningServer): Subject[] {
  const peer = { address: proxy.target.address, port: proxy.target.port };
  const proxyUri = stringOption(OptionNumber.ProxyUri, `coap://${origin.target.address}:${origin.target.port}/time`);
  const common = { impl: LIBCOAP, frontPid: proxy.pid, backPid: origin.pid };
  return [
    { ...common, kind: 'direct', describe: 'GET /time on the proxy itself (15-byte date, Max-Age 1)', send: (_, worker) => endpoints[worker]!.request({ peer, path: ['time'], timeoutMs: TIMEOUT_MS }), check: content() },
    {
      ...common, kind: 'proxied', describe: 'GET Proxy-Uri coap://origin/time (libcoap forwards each; empty ACK, then a CON 2.05)',
      send: (_, worker) => endpoints[worker]!.request({ peer, options: [proxyUri], timeoutMs: TIMEOUT_MS }), check: content(),
    },
  ];
}

async function measure(subject: Subject, outstanding: number, durationMs: number): Promise<{ sample: Sample; result: LoopResult }> {
  const front = cpuSecondsFine(subject.frontPid);
  const back = cpuSecondsFine(subject.backPid);
  const split = cpuSplitSeconds(subject.frontPid);
  const result = await closedLoop((index, worker) => subject.send(index, worker), subject.check, { outstanding, durationMs, maxCount: MAX_PER_ROUND });
  const frontUs = ((cpuSecondsFine(subject.frontPid) - front) / result.count) * 1e6;
  const splitAfter = cpuSplitSeconds(subject.frontPid);
  const backUs = ((cpuSecondsFine(subject.backPid) - back) / result.count) * 1e6;
  if (result.count === 0) throw new Error(`${subject.impl} ${subject.kind}: no request succeeded (${result.failed} failed: ${result.firstFailure})`);
  return {
    sample: { rate: result.count / result.seconds, p50: quantile(result.latenciesMs, 0.5), p99: quantile(result.latenciesMs, 0.99), frontUs, backUs,
      frontUser: splitAfter.user - split.user, frontSystem: splitAfter.system - split.system,
    },
    result,
  };
}

async function run(report: Report): Promise<void> {
  let fleet: BenchFleet | undefined;
  const plain: Endpoint[] = [];
  const servers: RunningServer[] = [];
  try {
    const workers = Math.max(...CONCURRENCY);
    fleet = await startFleet(workers);
    const subjects = ourSubjects(fleet);
    const libcoap = libcoapServer('');
    const unavailable = libcoap.unavailable();
    if (unavailable === undefined) {
      const origin = await startServer(libcoap);
      servers.push(origin);
      // -P ",name": this proxy is known as `bench-proxy`; any other Proxy-Uri host is
      // forwarded straight to that host (no next proxy).
      const proxy = await startServer(libcoapServer('', ['-P', ',bench-proxy']));
      servers.push(proxy);
      for (let i = 0; i < workers; i++) plain.push(await Endpoint.udp({ host: HOST, port: 0 }));
      subjects.push(...libcoapSubjects(plain, proxy, origin));
    } else {
      say(`${unavailable}: no libcoap rows`);
    }
    for (const subject of subjects) {
      const response = await subject.send(0, 0);
      const problem = subject.check(response);
      if (problem !== undefined) throw new Error(`${subject.impl} ${subject.kind}: ${problem}`);
      say(`${subject.impl} ${subject.kind}: ${subject.describe}; answer ${response.payload.length} bytes, Max-Age ${getUintOption(response.options, OptionNumber.MaxAge) ?? 'none'}`);
    }
    // What the gateway spends with nothing asked of it (the agent's health and metrics
    // reports and notifications): the floor under every per-request figure.
    const idleFrom = cpuSecondsFine(fleet.gatewayPid);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    report.add(BENCH, OURS, 'gateway idle CPU ms per s', (cpuSecondsFine(fleet.gatewayPid) - idleFrom) * 1000);
    // Warm-up at both K (discarded): without the K=1 part, the first K=1 round ran up to
    // 2x slower than the others.
    for (const outstanding of CONCURRENCY) for (const subject of subjects) await measure(subject, outstanding, WARMUP_MS / CONCURRENCY.length);
    say(`load average ${loadavg().map((load) => load.toFixed(2)).join(', ')} before the rounds (${cpus().length} CPUs)`);

    const failures = new Map<string, number>();
    for (const outstanding of CONCURRENCY) {
      const samples = new Map<Subject, Sample[]>(subjects.map((subject) => [subject, []]));
      for (let round = 0; round < ROUNDS; round++) {
        // The first subject rotates, so drift in the machine lands on each alike.
        for (let i = 0; i < subjects.length; i++) {
          const subject = subjects[(i + round) % subjects.length]!;
          const { sample, result } = await measure(subject, outstanding, ROUND_MS);
          samples.get(subject)!.push(sample);
          failures.set(subject.impl, (failures.get(subject.impl) ?? 0) + result.failed);
          if (result.failed > 0) say(`${subject.impl} ${subject.kind} K=${outstanding}: ${result.failed} failed, first: ${result.firstFailure}`);
        }
      }
      for (const [subject, rounds] of samples) {
        const k = `K=${outstanding}`;
        const front = median(rounds.map((s) => s.frontUs));
        const back = median(rounds.map((s) => s.backUs));
        report.add(BENCH, subject.impl, `${subject.kind} GET/s, ${k}`, median(rounds.map((s) => s.rate)));
        report.add(BENCH, subject.impl, `${subject.kind} p50 ms, ${k}`, median(rounds.map((s) => s.p50)));
        report.add(BENCH, subject.impl, `${subject.kind} p99 ms, ${k}`, median(rounds.map((s) => s.p99)));
        report.add(BENCH, subject.impl, `${subject.kind} gateway CPU µs/req, ${k}`, front);
        if (subject.kind !== 'direct') report.add(BENCH, subject.impl, `${subject.kind} agent CPU µs/req, ${k}`, back);
        // Over all rounds: the clock ticks are too coarse for one.
        const system = rounds.reduce((sum, s) => sum + s.frontSystem, 0);
        report.add(BENCH, subject.impl, `${subject.kind} gateway system CPU %, ${k}`, (100 * system) / (system + rounds.reduce((sum, s) => sum + s.frontUser, 0)));
        say(`${subject.impl} ${subject.kind} ${k}: ${rounds.map((s) => s.rate.toFixed(0)).join(' / ')} req/s; gateway ${rounds.map((s) => s.frontUs.toFixed(0)).join(' / ')} µs/req; agent ${rounds.map((s) => s.backUs.toFixed(0)).join(' / ')} µs/req`);
      }
      // What forwarding adds over answering directly, per impl: the ratio within each
      // round (the two measured a moment apart, under the same load from the machine's
      // other users), then the median round.
      for (const impl of new Set(subjects.map((subject) => subject.impl))) {
        const rounds = (kind: Case): readonly Sample[] | undefined => {
          const subject = subjects.find((s) => s.impl === impl && s.kind === kind);
          return subject === undefined ? undefined : samples.get(subject);
        };
        const direct = rounds('direct')!;
        for (const kind of ['proxied', 'coalesced', 'cached'] as const) {
          const other = rounds(kind);
          if (other === undefined) continue;
          const ratio = (pick: (s: Sample) => number): number => median(other.map((sample, round) => pick(sample) / pick(direct[round]!)));
          report.add(BENCH, impl, `${kind} / direct gateway CPU, K=${outstanding}`, ratio((s) => s.frontUs));
          report.add(BENCH, impl, `${kind} / direct p50 latency, K=${outstanding}`, ratio((s) => s.p50));
        }
      }
    }
    for (const [impl, failed] of failures) report.add(BENCH, impl, 'failed requests', failed);
    say(`load average ${loadavg().map((load) => load.toFixed(2)).join(', ')} after the rounds`);
  } finally {
    for (const endpoint of plain) await endpoint.close().catch(() => {});
    for (const server of servers) await server.stop();
    await fleet?.close();
    killAllServers();
  }
}

export const proxyBenchmark: Benchmark = { name: BENCH, run };
