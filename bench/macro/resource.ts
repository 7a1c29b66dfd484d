// The one resource every benchmarked server answers: GET /bench gives 2.05 Content with a
// 16-byte payload and no options. Shared by the server children and the load generator.

export const BENCH_PATH = 'bench';
export const BENCH_PAYLOAD: Buffer = Buffer.from('coap-fleet-bench', 'ascii');

/** Where a benchmark server of ours tells the most Q-Block2 state it held (JSON). */
export const BENCH_STATS_PATH = 'bench-stats';
