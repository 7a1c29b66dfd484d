// The contract between the bench runner and each benchmark: a name to select it by on the
// command line, and a run that adds its rows to the shared report.

import type { Report } from './report.js';

export interface Benchmark {
  /** What `node dist/bench/run.js <name>` selects, and the `bench` column of its rows. */
  readonly name: string;
  /** Measures ours beside the peers in one process and adds the rows; bounded in time.
   * `options`: the command line's `--name=value` flags, for benchmarks that take sizes. */
  run(report: Report, options: ReadonlyMap<string, string>): Promise<void>;
}
