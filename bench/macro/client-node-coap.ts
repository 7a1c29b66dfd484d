// Benchmark client child: node-coap's client (npm `coap`) GETs one resource and lets its
// Agent assemble the Block2 response (it asks for each next block itself). Run as a
// process of its own so that a transfer past its time limit can be ended by killing it.
// `node dist/bench/macro/client-node-coap.js HOST PORT PATH`; stdout has JSON lines:
// `{"datagrams"}` every 250 ms while it runs (responses received so far), then one
// `{"seconds","code","bytes","sha256","datagrams"}`, the time from the request to the
// whole body, process start excluded.

import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'coap';
import { sha256 } from './blob.js';

const [host, portText, path] = process.argv.slice(2);
const port = Number(portText);
if (host === undefined || path === undefined || !Number.isInteger(port)) {
  throw new Error('usage: client-node-coap.js HOST PORT PATH');
}

const socket = createSocket('udp4');
await new Promise<void>((resolve, reject) => {
  socket.once('error', reject);
  socket.bind(0, host, () => {
    socket.off('error', reject);
    resolve();
  });
});
// Every response is one datagram: counted beside the Agent's own listener, so that a
// transfer cut off by the time limit still shows how many blocks it got.
let datagrams = 0;
socket.on('message', () => {
  datagrams++;
});
const progress = setInterval(() => process.stdout.write(`${JSON.stringify({ datagrams })}\n`), 250);
const agent = new Agent({ socket });
const started = performance.now();
const outgoing = request({ hostname: host, port, pathname: `/${path}`, agent });
outgoing.on('response', (response) => {
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  const payload = response.payload;
  process.stdout.write(`${JSON.stringify({ seconds, code: response.code, bytes: payload.length, sha256: sha256(payload), datagrams })}\n`);
  socket.close();
  process.exit(0);
});
outgoing.on('error', (error: Error) => {
  clearInterval(progress);
  process.stderr.write(`node-coap client: ${error.message}\n`);
  process.exit(1);
});
outgoing.end();
