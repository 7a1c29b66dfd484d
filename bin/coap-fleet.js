#!/usr/bin/env node
// The coap-fleet command: a thin launcher for the compiled CLI in dist/ (src/cli/main.ts).
// The process exits by itself once the command has closed its sockets and timers, so a
// leaked handle shows up as a hang in the integration tests rather than being hidden.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('coap-fleet: the compiled CLI (dist/src/cli/main.js) is missing: run npm run build\n');
  process.exitCode = 70;
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv.slice(2));
}
