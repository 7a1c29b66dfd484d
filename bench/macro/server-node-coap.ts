// Benchmark server child: node-coap's server (npm `coap`) with default options, answering
// GET /bench like ours. It listens on a socket we bind, so that the port is ephemeral.

import { createSocket } from 'node:dgram';
import { createServer } from 'coap';
import { BENCH_PATH, BENCH_PAYLOAD } from './resource.js';
import { BENCH_HOST, runServerChild } from './server-child.js';

await runServerChild(async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, BENCH_HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const server = createServer((request, response) => {
    if (request.url === `/${BENCH_PATH}`) {
      response.end(BENCH_PAYLOAD);
    } else {
      response.code = '4.04';
      response.end();
    }
  });
  server.listen(socket);
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => {
      server.close();
      socket.close(() => resolve());
    }),
  };
});
