// Benchmark server child: our Endpoint on UDP with default options, answering GET /bench.
// Run by servers.ts as `node dist/bench/macro/server-coap-fleet.js`.

import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { BENCH_PATH, BENCH_PAYLOAD } from './resource.js';
import { BENCH_HOST, runServerChild } from './server-child.js';

await runServerChild(async () => {
  const endpoint = await Endpoint.udp({ host: BENCH_HOST, port: 0 });
  endpoint.router.add(`/${BENCH_PATH}`, {
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: BENCH_PAYLOAD }) },
  });
  return { port: endpoint.address().port, close: () => endpoint.close() };
});
