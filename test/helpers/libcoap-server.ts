// libcoap's coap-server (Debian's libcoap3-bin, 4.3.1) with dynamic resources (-d: a PUT to
// an unknown path creates it) on a free loopback port, for the interop tests that download
// from it: started, asked until it answers (bounded), its last output added to a failure,
// stopped afterwards.

import { spawn } from 'node:child_process';
import type { Endpoint } from '../../src/protocol/endpoint.js';
import { freePort, stopProcess } from './peers.js';

const SERVER = 'coap-server-notls';
const LOOPBACK = '127.0.0.1';
const READY_ATTEMPTS = 50;
const READY_REQUEST_MS = 200;
const OUTPUT_KEPT = 4096;

/** Runs `body` with the server's base URI, asking it through `client` until it answers. */
export async function withDynamicLibcoapServer(client: Endpoint, body: (base: string) => Promise<void>): Promise<void> {
  const port = await freePort();
  const base = `coap://${LOOPBACK}:${port}`;
  const child = spawn(SERVER, ['-d', '10', '-A', LOOPBACK, '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let failure: Error | undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure = error.code === 'ENOENT' ? new Error(`${SERVER} is not installed: apt-get install libcoap3-bin`) : error;
  });
  try {
    let ready = false;
    for (let attempt = 0; attempt < READY_ATTEMPTS && !ready; attempt++) {
      if (failure !== undefined) throw failure;
      if (child.exitCode !== null) throw new Error(`${SERVER} exited with ${child.exitCode}: ${output}`);
      ready = await client.request({ uri: `${base}/time`, confirmable: false, timeoutMs: READY_REQUEST_MS }).then(() => true, () => false);
    }
    if (failure !== undefined) throw failure;
    if (!ready) throw new Error(`${SERVER} did not answer within ${READY_ATTEMPTS} attempts: ${output}`);
    await body(base);
  } catch (error) {
    if (output !== '' && error instanceof Error) error.message += `\n${SERVER} output: ${output}`;
    throw error;
  } finally {
    await stopProcess(child);
  }
}
