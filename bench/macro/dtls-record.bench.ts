// The DTLS record cost alone (issue 14): server CPU per 1 KiB GET over an established PSK
// session, our server beside libcoap-OpenSSL's in the same rounds, the rows
// `dtls_get_1k_cpu_us` of the `dtls` benchmark without its handshakes and session counts
// (`node dist/bench/run.js dtls-record`, about 15 s).

import type { Benchmark } from '../interfaces.js';
import { requests } from './dtls.bench.js';

export const dtlsRecordBenchmark: Benchmark = {
  name: 'dtls-record',
  run: (report) => requests(report, { recordOnly: true }),
};
