#!/usr/bin/env node
// Runs the fault-injecting UDP proxy, the same as `coap-fleet fault-proxy ...`:
//   node tools/fault-proxy.mjs --listen 127.0.0.1:0 --target 127.0.0.1:5683 --loss 0.2
// It stops on SIGINT/SIGTERM and prints its counts on stderr. Needs `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('fault-proxy: dist/src/cli/main.js is missing: run npm run build\n');
  process.exitCode = 70;
} else {
  const { main } = await import(entry.href);
  process.exitCode = await main(['fault-proxy', ...process.argv.slice(2)]);
}
