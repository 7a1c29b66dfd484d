// Builds what a fresh clone lacks: npm packages, the TypeScript into dist/, and the DTLS
// WebAssembly module (build/mbedtls-dtls.wasm) when it is missing or stale.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildDashboard } from './build-dashboard.mjs';
import { buildWasm } from './build-wasm.mjs';
import { ensureNpmPackages, root } from './prepare.mjs';

const dist = join(root, 'dist');

// tsc never removes what a deleted source once produced; a stale test would still run.
function removeStaleOutputs(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) removeStaleOutputs(path);
    else if (/\.js(\.map)?$/.test(entry.name)) {
      const source = join(root, relative(dist, path)).replace(/\.js(\.map)?$/, '.ts');
      if (!existsSync(source)) rmSync(path, { force: true });
    }
  }
}

export async function build() {
  ensureNpmPackages();
  await buildWasm();
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
    cwd: root, stdio: ['ignore', 'inherit', 'inherit'],
  });
  removeStaleOutputs(dist);
  buildDashboard();
}

if (import.meta.url === `file://${process.argv[1]}`) await build();
