#!/usr/bin/env node
// The coap-fleet command: a thin launcher for the compiled CLI in dist/ (src/cli/main.ts).
// The process exits by itself once the command has closed its sockets and timers, so a
// leaked handle shows up as a hang in the integration tests rather than being hidden.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// V8 settings for the node agent, a daemon on small devices (issue 14; figures from
// `npm run bench -- footprint`, both flags together: idle RSS -3 MiB, peak during a 4 MiB
// download -5 MiB). Only flags V8 reads as it runs can be set from here, before the
// command's code loads; those fixed when the heap is made (--max-semi-space-size) would
// need a re-exec, a second resident process.
// - --semi-space-growth-factor=1: the young generation keeps its initial semi-spaces
//   (1 MiB) instead of growing to 8-16 MiB at the start's and the download's allocations.
// - --no-opt: no TurboFan for JavaScript (its code pages and compile zones); the agent's
//   hot paths are native (sha256, files, LMDB) or WebAssembly (DTLS, still optimised).
// The gateway keeps V8's defaults: at 10,000 nodes its allocation rate and hot JavaScript
// pay for a larger young generation and optimised code.
const DAEMON_V8_FLAGS = { agent: ['--semi-space-growth-factor=1', '--no-opt'] };

for (const flag of DAEMON_V8_FLAGS[process.argv[2]] ?? []) setFlagsFromString(flag);

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('coap-fleet: the compiled CLI (dist/src/cli/main.js) is missing: run npm run build\n');
  process.exitCode = 70;
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv.slice(2));
}
