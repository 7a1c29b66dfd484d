// Builds the DTLS WebAssembly modules when missing or stale before a test file loads them
// (a development step: a release tarball carries the built module and has no tools/).

import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface WasmBuild {
  buildWasm(options?: { force?: boolean }): Promise<string>;
  readonly testWasmPath: string;
}

// dist/test/helpers/wasm.js -> the repository root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function wasmBuild(): Promise<WasmBuild> {
  return await import(pathToFileURL(join(root, 'tools', 'build-wasm.mjs')).href) as WasmBuild;
}

/** The shipped module's path, built if needed. */
export async function ensureWasm(): Promise<string> {
  return (await wasmBuild()).buildWasm();
}

/** The module with the test-only exports of tools/mbedtls/fleet_libc_test.c. */
export async function ensureTestWasm(): Promise<string> {
  const build = await wasmBuild();
  await build.buildWasm();
  return build.testWasmPath;
}
