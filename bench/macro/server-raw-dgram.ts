// Benchmark server child: the ceiling of a Node.js UDP server on this machine. Every
// datagram gets a prebuilt ACK 2.05 with the 16-byte payload, the request's message ID
// and token copied in; nothing else is parsed or checked, so it is not a CoAP server.

import { createSocket } from 'node:dgram';
import { BENCH_PAYLOAD } from './resource.js';
import { BENCH_HOST, runServerChild } from './server-child.js';

const MAX_TOKEN_LENGTH = 8;
const ACK = 2;
const CONTENT = 0x45; // 2.05
const PAYLOAD_MARKER = 0xff;

/** One response per token length: header, room for the token, marker, payload. */
const RESPONSES: readonly Buffer[] = Array.from({ length: MAX_TOKEN_LENGTH + 1 }, (_, tokenLength) => {
  const bytes = Buffer.alloc(4 + tokenLength + 1 + BENCH_PAYLOAD.length);
  bytes[0] = (1 << 6) | (ACK << 4) | tokenLength;
  bytes[1] = CONTENT;
  bytes[4 + tokenLength] = PAYLOAD_MARKER;
  BENCH_PAYLOAD.copy(bytes, 5 + tokenLength);
  return bytes;
});

await runServerChild(async () => {
  const socket = createSocket('udp4');
  socket.on('message', (request, peer) => {
    if (request.length < 4) return;
    const tokenLength = Math.min(request[0]! & 0xf, MAX_TOKEN_LENGTH, request.length - 4);
    // A copy per response: a send that libuv queues (socket buffer full) still holds its
    // buffer, so the prebuilt one must not be written while it may be in flight.
    const response = Buffer.from(RESPONSES[tokenLength]!);
    request.copy(response, 2, 2, 4 + tokenLength);
    socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, BENCH_HOST, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {});
  return { port: socket.address().port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
});
