// The dashboard's static files (issue 15): one root directory, dist/src/dashboard/public/
// (the page's build puts index.html, CSS, JS and vendor/ there; it ships in the npm
// package with the rest of dist/src). GET / is index.html; any other path maps inside the
// root only: no "..", no dotfiles, no symbolic link out of it. Validators: ETag from size
// and mtime, revalidated every time (Cache-Control: no-cache), so a new build shows at once.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/dashboard/public/, beside this module's dist/src/server/. */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../dashboard/public/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export type StaticAnswer =
  | { readonly kind: 'file'; readonly path: string; readonly size: number; readonly etag: string; readonly type: string }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'not-built' };

/** What `urlPath` (undecoded, without the query) names under `root`. */
export async function resolveStatic(root: string, urlPath: string): Promise<StaticAnswer> {
  const segments = safeSegments(urlPath);
  if (segments === undefined) return { kind: 'not-found' };
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { kind: 'not-built' };
  }
  const relative = segments.length === 0 ? ['index.html'] : segments;
  let path: string;
  try {
    path = await realpath(join(realRoot, ...relative));
  } catch {
    return { kind: 'not-found' };
  }
  if (!path.startsWith(realRoot + sep)) return { kind: 'not-found' };
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) return { kind: 'not-found' };
  const type = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
  return { kind: 'file', path, size: info.size, etag: `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`, type };
}

/** Answers a GET or HEAD for a static file (the security headers are set already). */
export async function serveStatic(root: string, request: IncomingMessage, response: ServerResponse, urlPath: string): Promise<void> {
  const answer = await resolveStatic(root, urlPath);
  if (answer.kind === 'not-built') {
    const page = `<!doctype html><title>Dashboard not built</title><h1>The dashboard was not built</h1><p>${root} is missing: build it with <code>node tools/build.mjs</code>.</p>\n`;
    response.writeHead(500, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page);
    return;
  }
  if (answer.kind === 'not-found') {
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  const headers = { 'Content-Type': answer.type, ETag: answer.etag, 'Cache-Control': 'no-cache' };
  if (request.headers['if-none-match'] === answer.etag) {
    response.writeHead(304, headers).end();
    return;
  }
  response.writeHead(200, { ...headers, 'Content-Length': answer.size });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  createReadStream(answer.path).on('error', () => response.destroy()).pipe(response);
}

/** The decoded path segments, or undefined for one that may not be served: undecodable,
 * a NUL or a separator inside a segment, "." or ".." or any dotfile. */
export function safeSegments(urlPath: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of urlPath.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment.startsWith('.') || segment.includes('/') || segment.includes('\\') || segment.includes('\0')) return undefined;
    segments.push(segment);
  }
  return segments;
}
