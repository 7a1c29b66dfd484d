// Runs the named benchmarks (all registered ones when none is named) in one process and
// prints one report: `node dist/bench/run.js [names…] [--json] [--name=value…]`, or
// `npm run bench -- codec`. `--name=value` flags go to the benchmarks that take them.

import type { Benchmark } from './interfaces.js';
import { blockwiseBenchmark } from './macro/blockwise.bench.js';
import { dashboardWsBenchmark } from './macro/dashboard-ws.bench.js';
import { dtlsIdleBenchmark } from './macro/dtls-idle.bench.js';
import { dtlsRecordBenchmark } from './macro/dtls-record.bench.js';
import { dtlsBenchmark } from './macro/dtls.bench.js';
import { fleetBenchmark } from './macro/fleet.bench.js';
import { footprintBenchmark } from './macro/footprint.bench.js';
import { mqttCompareBenchmark } from './macro/mqtt-compare.bench.js';
import { proxyBenchmark } from './macro/proxy.bench.js';
import { requestsBenchmark } from './macro/requests.bench.js';
import { retransmissionBenchmark } from './macro/retransmission.bench.js';
import { rolloutWavesBenchmark } from './macro/rollout-waves.bench.js';
import { transferLossyBenchmark } from './macro/transfer-lossy.bench.js';
import { transferBenchmark } from './macro/transfer.bench.js';
import { codecBenchmark } from './micro/codec.bench.js';
import { Report } from './report.js';

// One line per benchmark; the order here is the order `run.js` with no name runs them in.
const BENCHMARKS: readonly Benchmark[] = [
  codecBenchmark,
  requestsBenchmark,
  blockwiseBenchmark,
  dtlsBenchmark,
  dtlsRecordBenchmark,
  dtlsIdleBenchmark,
  proxyBenchmark,
  retransmissionBenchmark,
  rolloutWavesBenchmark,
  transferBenchmark,
  transferLossyBenchmark,
  footprintBenchmark,
  dashboardWsBenchmark,
  mqttCompareBenchmark,
  fleetBenchmark,
];

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const options = new Map(argv.filter((arg) => /^--[\w-]+=/.test(arg)).map((arg) => {
    const equals = arg.indexOf('=');
    return [arg.slice(2, equals), arg.slice(equals + 1)] as const;
  }));
  const names = argv.filter((arg) => !arg.startsWith('--'));
  const unknown = names.filter((name) => !BENCHMARKS.some((benchmark) => benchmark.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}; registered: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  const selected = names.length === 0 ? BENCHMARKS : BENCHMARKS.filter((benchmark) => names.includes(benchmark.name));
  const report = new Report();
  for (const benchmark of selected) {
    // Progress goes to stderr so that stdout stays a table or pure JSON lines.
    process.stderr.write(`running ${benchmark.name}…\n`);
    await benchmark.run(report, options);
  }
  if (!json) process.stdout.write(`node ${process.version}, ${process.platform}/${process.arch}\n\n`);
  report.print(json);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
