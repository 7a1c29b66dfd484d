// Builds the dashboard's static root, dist/src/dashboard/public/ (what the gateway serves,
// DASH-CONTRACT.md): the browser TypeScript compiled by its own tsconfig (DOM lib, ES
// modules the browser loads as they are), index.html and the CSS, and the ESM builds of
// Preact, htm and uPlot into vendor/. No bundler: the page imports them by relative path,
// since an import map is an inline script that the page's CSP (script-src 'self') refuses.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './prepare.mjs';

const source = join(root, 'src', 'dashboard', 'public');
const target = join(root, 'dist', 'src', 'dashboard', 'public');

/** vendor/NAME ← node_modules file; `rewrite` turns bare imports into relative ones. */
const VENDOR = [
  { name: 'preact.mjs', from: 'preact/dist/preact.mjs' },
  { name: 'hooks.mjs', from: 'preact/hooks/dist/hooks.mjs', rewrite: [['from"preact"', 'from"./preact.mjs"']] },
  { name: 'htm.mjs', from: 'htm/dist/htm.mjs' },
  // .mjs, not .js: build.mjs removes every dist/**/*.js that has no TypeScript source.
  { name: 'uplot.mjs', from: 'uplot/dist/uPlot.esm.js' },
  { name: 'uplot.css', from: 'uplot/dist/uPlot.min.css' },
];

const STATIC = /\.(html|css|svg|png|ico|webmanifest)$/;

function copyStatic(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) copyStatic(join(from, entry.name), join(to, entry.name));
    else if (STATIC.test(entry.name)) {
      mkdirSync(to, { recursive: true });
      copyFileSync(join(from, entry.name), join(to, entry.name));
    }
  }
}

export function buildDashboard() {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'src', 'dashboard')], {
    cwd: root, stdio: ['ignore', 'inherit', 'inherit'],
  });
  copyStatic(source, target);
  mkdirSync(join(target, 'vendor'), { recursive: true });
  for (const { name, from, rewrite = [] } of VENDOR) {
    let text = readFileSync(join(root, 'node_modules', from), 'utf8');
    for (const [bare, relative] of rewrite) {
      // A new release that spells its import otherwise must fail the build, not the page.
      if (!text.includes(bare)) throw new Error(`${from}: expected ${bare} to rewrite`);
      text = text.replaceAll(bare, relative);
    }
    writeFileSync(join(target, 'vendor', name), text);
  }
}
