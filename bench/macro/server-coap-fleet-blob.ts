// Benchmark server child: our Endpoint on UDP with default options, serving each blob of
// blob.ts block-wise (RFC 7959 §2.2) at GET /blob-1mib and /blob-16mib, with an ETag.
// `node dist/bench/macro/server-coap-fleet-blob.js file|buffer DIRECTORY [fixed|cocoa]`:
// `file` reads every block from disk (immutableFileBody, as the gateway serves images: 64 KiB
// read-ahead windows, the representation never held whole in memory), `buffer` loads the
// files at startup and slices Buffers (bufferBody); the last argument picks the
// retransmission timers (parameters.ts; default: the Endpoint's, RFC 7252's fixed §4.8).
// A client asking with Q-Block2 (RFC 9177) gets Q-Block2 responses where the Endpoint
// serves them; others get Block2.

import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { bufferBody, immutableFileBody, type BodySource } from '../../src/protocol/body.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { CONGESTION_CONTROLS, type CongestionControl } from '../../src/protocol/parameters.js';
import { BENCH_PATH, BENCH_PAYLOAD, BENCH_STATS_PATH } from './resource.js';
import { BLOBS, blobFile } from './blob.js';
import { BENCH_HOST, runServerChild } from './server-child.js';

const [mode, directory, timers] = process.argv.slice(2);
if ((mode !== 'file' && mode !== 'buffer') || directory === undefined || (timers !== undefined && !isCongestionControl(timers))) {
  throw new Error(`usage: server-coap-fleet-blob.js file|buffer DIRECTORY [${CONGESTION_CONTROLS.join('|')}]`);
}

await runServerChild(async () => {
  const endpoint = await Endpoint.udp({ host: BENCH_HOST, port: 0 }, timers === undefined ? {} : { parameters: { congestionControl: timers } });
  // The most Q-Block2 state this server held at once (RFC 9177 transfers and the bytes they
  // keep), sampled every 5 ms, for the transfer benchmark's memory rows: GET /bench-stats.
  const peak = { transfers: 0, bytesHeld: 0 };
  setInterval(() => {
    const { transfers, bytesHeld } = endpoint.qblock2Stats();
    peak.transfers = Math.max(peak.transfers, transfers);
    peak.bytesHeld = Math.max(peak.bytesHeld, bytesHeld);
  }, 5).unref();
  endpoint.router.add(`/${BENCH_STATS_PATH}`, {
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: JSON.stringify(peak) }) },
  });
  endpoint.router.add(`/${BENCH_PATH}`, {
    handlers: { GET: () => ({ code: ResponseCode.Content, payload: BENCH_PAYLOAD }) },
  });
  for (const blob of BLOBS) {
    const path = blobFile(directory, blob);
    const { size, mtimeMs } = statSync(path);
    // As a static file server would: an ETag from size and modification time, so that a
    // file replaced mid-download restarts the client (RFC 7959 §2.4).
    const etag = createHash('sha256').update(`${size}:${mtimeMs}`).digest().subarray(0, 8);
    // A body per request, as the update server makes one (src/server/resources-updates.ts).
    const buffer = mode === 'buffer' ? readFileSync(path) : undefined;
    const body = (): BodySource => (buffer === undefined ? immutableFileBody(path, size) : bufferBody(buffer));
    endpoint.router.add(`/${blob.path}`, {
      handlers: { GET: () => ({ code: ResponseCode.Content, body: body(), etag }) },
    });
  }
  return { port: endpoint.address().port, close: () => endpoint.close() };
});

function isCongestionControl(value: string): value is CongestionControl {
  return (CONGESTION_CONTROLS as readonly string[]).includes(value);
}
