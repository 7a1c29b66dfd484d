// Debian's chromium, headless, driven by playwright-core (issue 15's browser tests): a fresh
// profile each time, no network but the page's own, screenshots under artifacts/dashboard/
// (git-ignored). The test command installs chromium when root (tools/prepare.mjs); without
// it the browser tests skip, saying so loudly.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './fleet.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'artifacts', 'dashboard');

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return `${CHROMIUM} is missing: the dashboard's browser tests are SKIPPED. Run the tests as root (npm test installs Debian's chromium) or apt-get install chromium`;
}

export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors and page errors (a CSP violation shows up here). */
  readonly problems: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'coap-fleet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport, timeout: 60_000,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
  return {
    context, page, problems,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page PNG as artifacts/dashboard/NAME.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** What a cold load of `url` transferred, from the page's own Resource Timing entries
 * (navigation and resources): bytes on the wire (transferSize: headers and bodies as
 * received, so compressed if the server compressed) and the bodies before and after
 * decoding; equal sizes mean no compression. */
export async function coldLoadWeight(page: Page, url: string, settled: () => Promise<unknown>): Promise<{ responses: number; transferBytes: number; encodedBytes: number; decodedBytes: number }> {
  await page.goto(url);
  await settled();
  const entries = await page.evaluate(`[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .map((entry) => ({ transfer: entry.transferSize, encoded: entry.encodedBodySize, decoded: entry.decodedBodySize }))`) as { transfer: number; encoded: number; decoded: number }[];
  const sum = (field: 'transfer' | 'encoded' | 'decoded') => entries.reduce((total, entry) => total + entry[field], 0);
  return { responses: entries.length, transferBytes: sum('transfer'), encodedBytes: sum('encoded'), decodedBytes: sum('decoded') };
}
