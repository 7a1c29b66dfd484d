// Memory per idle DTLS session (issue 14): 2,000 PSK sessions opened against our server (a
// child process: module heap, JS heap and RSS read from it), each having sent one CoAP ping
// as a node's first request would, then left idle. Once with hibernation off, once with
// `limits.hibernateAfterMs` 1 s (sessions hibernate as the opening goes on, so the module's
// memory, which never shrinks, peaks lower too). The `coap-fleet` row hibernates; the peer
// row is the same server without it. `node dist/bench/run.js dtls-idle` (about a minute).

import type { Benchmark } from '../interfaces.js';
import { OURS, type Report } from '../report.js';
import { holdSessions, killAll, ourServer, residentMiB, serverStats, type Child } from './dtls.bench.js';

const BENCH = 'dtls';
const SESSIONS = 2000;
const HIBERNATE_AFTER_MS = 1000;
const SETTLE_MS = 30_000;
const AWAKE = 'coap-fleet, no hibernation';

const say = (text: string): void => { process.stderr.write(`  dtls-idle: ${text}\n`); };
const pause = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms); });

async function measure(report: Report, impl: string, hibernateAfterMs: number): Promise<void> {
  const server = await ourServer({ scheme: 'coaps', mode: 'psk', sessions: SESSIONS * 2, hibernateAfterMs });
  const holders: Child[] = [];
  try {
    const before = await serverStats(server.child);
    const rssBefore = residentMiB(server.child.pid);
    holders.push(...await holdSessions(server.port, SESSIONS, { ping: true }));
    // Every session idle past the hibernation delay (both runs wait alike), or 30 s.
    const deadline = Date.now() + SETTLE_MS;
    let after = await serverStats(server.child);
    await pause(HIBERNATE_AFTER_MS * 2);
    while (hibernateAfterMs > 0 && after.hibernated < after.sessions && Date.now() < deadline) {
      await pause(250);
      after = await serverStats(server.child);
    }
    after = await serverStats(server.child);
    const rssAfter = residentMiB(server.child.pid);
    const count = after.sessions;
    say(`${impl}: ${count} sessions (${after.hibernated} hibernated), module heap ${before.heapInUse} -> ${after.heapInUse} B, `
      + `JS heap ${before.jsHeap} -> ${after.jsHeap} B, buffers ${before.arrayBuffers} -> ${after.arrayBuffers} B, RSS ${rssBefore.toFixed(1)} -> ${rssAfter.toFixed(1)} MiB`);
    report.add(BENCH, impl, `idle PSK sessions held (of ${SESSIONS.toLocaleString('en-US')})`, count);
    report.add(BENCH, impl, 'of them hibernated', after.hibernated);
    report.add(BENCH, impl, 'dtls_idle_session_module_bytes', (after.heapInUse - before.heapInUse) / count);
    report.add(BENCH, impl, 'dtls_idle_session_js_heap_bytes', (after.jsHeap - before.jsHeap) / count);
    report.add(BENCH, impl, 'dtls_idle_session_buffer_bytes', (after.arrayBuffers - before.arrayBuffers) / count);
    report.add(BENCH, impl, 'dtls_idle_session_rss_kib', ((rssAfter - rssBefore) * 1024) / count);
  } finally {
    for (const holder of holders) await holder.stop();
    await server.child.stop();
  }
}

export const dtlsIdleBenchmark: Benchmark = {
  name: 'dtls-idle',
  async run(report) {
    try {
      await measure(report, AWAKE, 0);
      await measure(report, OURS, HIBERNATE_AFTER_MS);
    } finally {
      killAll();
    }
  },
};
