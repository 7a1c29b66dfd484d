// The DTLS record cost alone (issue 14): server CPU per 1 KiB GET over an established PSK
// session, our server beside libcoap-OpenSSL's in the same rounds, the rows
// `dtls_get_1k_cpu_us` of the `dtls` benchmark without its handshakes and session counts
// (`node dist/bench/run.js dtls-record`, about 20 s); and the DTLS layer's own share, in
// one process without sockets (dtls-pair.ts), which a loaded machine disturbs less.

import type { Benchmark } from '../interfaces.js';
import { OURS } from '../report.js';
import { dtlsLayerCpuUs } from './dtls-pair.js';
import { requests } from './dtls.bench.js';

export const dtlsRecordBenchmark: Benchmark = {
  name: 'dtls-record',
  async run(report) {
    report.add('dtls', OURS, 'dtls_record_layer_cpu_us (in-process, per 1 KiB GET, one side)', await dtlsLayerCpuUs());
    await requests(report, { recordOnly: true });
  },
};
