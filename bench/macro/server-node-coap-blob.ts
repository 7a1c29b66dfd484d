// Benchmark server child: node-coap's server (npm `coap`) with default options, answering
// GET /blob-1mib and /blob-16mib with the whole blob; node-coap slices it into Block2
// responses itself (its OutMessage.end, 1024-byte blocks, the body cached per token).
// `node dist/bench/macro/server-node-coap-blob.js DIRECTORY`: the blobs are loaded at start.

import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'coap';
import { BLOBS, blobFile } from './blob.js';
import { BENCH_PATH, BENCH_PAYLOAD } from './resource.js';
import { BENCH_HOST, runServerChild } from './server-child.js';

const [directory] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: server-node-coap-blob.js DIRECTORY');

await runServerChild(async () => {
  const bodies = new Map<string, Buffer>(BLOBS.map((blob) => [`/${blob.path}`, readFileSync(blobFile(directory, blob))]));
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, BENCH_HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const server = createServer((request, response) => {
    const body = request.url === `/${BENCH_PATH}` ? BENCH_PAYLOAD : bodies.get(request.url);
    if (body === undefined) {
      response.code = '4.04';
      response.end();
    } else {
      response.end(body);
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
