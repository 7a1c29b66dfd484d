// Builds what a fresh clone lacks: npm packages, then the TypeScript into dist/.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureNpmPackages, root } from './prepare.mjs';

export function build() {
  ensureNpmPackages();
  // A clean output: tsc never removes what a deleted source once produced.
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], {
    cwd: root, stdio: ['ignore', 'inherit', 'inherit'],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) build();
