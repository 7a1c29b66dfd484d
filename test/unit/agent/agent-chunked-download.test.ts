// The agent's download of a format 2 image (chunk hashes in the signed manifest) against a
// fake gateway over real UDP on loopback, with a real LMDB and real files: a corrupted
// block is caught when its chunk completes and only that chunk is fetched again (Block2
// random access, RFC 7959 §2.4); an image that stays bad fails after the bound; a restart
// hashes the partial file again and goes on from its verified chunks whatever the ETag.
// Lock-step Block2 (`block_transfer: block2`) shows the exact order of the blocks asked
// for; with Q-Block2 (the default) a burst already sent past a bad chunk is not asked for
// again, so those tests count how often each block was sent instead.
// Format 1 downloads are agent-updates.test.ts's.

import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_CHUNK_REFETCHES } from '../../../src/agent/downloader.js';
import { makeImage, type Offered } from './fake-gateway.js';
import { agentWorld, startAgent as startWith, type AgentWorld as World, type RunningAgent } from './agent-harness.js';

/** 40 KiB in chunks of 4 KiB: 10 chunks of 4 blocks of 1 KiB (the agent's block size). */
const SIZE = 40 * 1024;
const CHUNK = 4096;
const BLOCKS = SIZE / 1024;
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

const world = (): Promise<World> => agentWorld('coap-fleet-agent-chunks-');

const startAgent = (w: World, transfer: 'block2' | 'qblock2' = 'block2'): Promise<RunningAgent> =>
  startWith(w.data, w.gateway, w.publisher, { block_transfer: transfer }, w.logs);

/** How often each block was sent. */
const timesSent = (served: readonly number[]): number[] => {
  const times = Array.from({ length: BLOCKS }, () => 0);
  for (const num of served) times[num]!++;
  return times;
};

async function offer(w: World, updateId = 'u2'): Promise<Offered & { sha256: string }> {
  const image = await makeImage(w.dir, w.publisher, { updateId, version: '2.0.0', size: SIZE, chunkSize: CHUNK });
  return { manifest: image.manifest, imagePath: image.imagePath, rollout: 'active', imageReady: true, sha256: image.sha256 };
}

const flipped = (bytes: Buffer, at: number): Buffer => {
  const copy = Buffer.from(bytes);
  copy[at]! ^= 0x10;
  return copy;
};
const sha256File = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
const installedImage = (w: World): Promise<string> => sha256File(join(w.data, 'slots', 'current', 'image.bin'));

test('a block corrupted once in chunk 2 is caught when chunk 2 completes, before block 12 is asked for; only chunk 2 is fetched again; the update installs', async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/chunk failed its sha256: fetching it again/);
    let corrupted = 0;
    w.gateway.alterBlock = (_id, num, bytes) => (num === 9 && corrupted++ === 0 ? flipped(bytes, 100) : bytes);
    w.running = await startAgent(w);
    const update = await offer(w);
    w.gateway.setUpdates([update]);
    const outcome = await w.gateway.outcome('u2');
    assert.equal(outcome, { state: 'installed', progress: 1, error: null });
    // Blocks 8-11 are chunk 2: after its last block, chunk 2 again from its first, then on.
    assert.equal(w.gateway.served.get('u2'), [...range(0, 12), ...range(8, BLOCKS)]);
    assert.is(await installedImage(w), update.sha256);
    const warning = w.logs.find((entry) => entry.msg === 'chunk failed its sha256: fetching it again');
    assert.equal([warning?.chunk, warning?.offset, warning?.failures], [2, 2 * CHUNK, 1]);
  } finally {
    await w.cleanup();
  }
});

test(`a chunk that stays bad fails the update after ${MAX_CHUNK_REFETCHES} fetches again: "chunk 2: sha256 mismatch", nothing after it fetched, partial file removed, never installed`, async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/chunk failed its sha256: fetching it again/);
    w.gateway.alterBlock = (_id, num, bytes) => (num === 10 ? flipped(bytes, 7) : bytes);
    w.running = await startAgent(w);
    w.gateway.setUpdates([await offer(w)]);
    const outcome = await w.gateway.outcome('u2');
    assert.is(outcome.state, 'failed');
    assert.is(outcome.error, 'chunk 2: sha256 mismatch');
    assert.equal(w.gateway.served.get('u2'), [...range(0, 12), ...Array.from({ length: MAX_CHUNK_REFETCHES }, () => range(8, 12)).flat()]);
    assert.equal(await readdir(join(w.data, 'downloads')), []);
    assert.not.ok(w.gateway.installAsks.has('u2'), 'never asked to install');
  } finally {
    await w.cleanup();
  }
});

test('Q-Block2: a block corrupted once in chunk 2 has chunk 2 sent again; chunks 0 and 1 are sent once; the update installs', async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/chunk failed its sha256: fetching it again/);
    let corrupted = 0;
    w.gateway.alterBlock = (_id, num, bytes) => (num === 9 && corrupted++ === 0 ? flipped(bytes, 100) : bytes);
    w.running = await startAgent(w, 'qblock2');
    const update = await offer(w);
    w.gateway.setUpdates([update]);
    assert.equal(await w.gateway.outcome('u2'), { state: 'installed', progress: 1, error: null });
    const times = timesSent(w.gateway.served.get('u2')!);
    assert.equal(times.slice(0, 8), range(0, 8).map(() => 1), `chunks 0-1 once: ${times}`);
    assert.equal(times.slice(8, 12), [2, 2, 2, 2], `chunk 2 twice: ${times}`);
    assert.is(await installedImage(w), update.sha256);
    const warnings = w.logs.filter((entry) => entry.msg === 'chunk failed its sha256: fetching it again');
    assert.equal(warnings.map((entry) => [entry.chunk, entry.offset, entry.failures]), [[2, 2 * CHUNK, 1]]);
  } finally {
    await w.cleanup();
  }
});

test(`Q-Block2: a chunk that stays bad fails the update after ${MAX_CHUNK_REFETCHES} fetches again, chunks before it sent once, never installed`, async () => {
  const w = await world();
  try {
    w.expectedWarnings.push(/chunk failed its sha256: fetching it again/);
    w.gateway.alterBlock = (_id, num, bytes) => (num === 10 ? flipped(bytes, 7) : bytes);
    w.running = await startAgent(w, 'qblock2');
    w.gateway.setUpdates([await offer(w)]);
    const outcome = await w.gateway.outcome('u2');
    assert.equal([outcome.state, outcome.error], ['failed', 'chunk 2: sha256 mismatch']);
    const times = timesSent(w.gateway.served.get('u2')!);
    assert.equal(times.slice(0, 8), range(0, 8).map(() => 1), `chunks 0-1 once: ${times}`);
    // A burst may run past the chunk before its mismatch is known: more, never fewer.
    assert.ok(times.slice(8, 12).every((sent) => sent >= 1 + MAX_CHUNK_REFETCHES), `chunk 2 once and ${MAX_CHUNK_REFETCHES} times again: ${times}`);
    const warnings = w.logs.filter((entry) => entry.msg === 'chunk failed its sha256: fetching it again');
    assert.equal(warnings.map((entry) => entry.chunk), [2, 2, 2]);
    assert.equal(await readdir(join(w.data, 'downloads')), []);
    assert.not.ok(w.gateway.installAsks.has('u2'), 'never asked to install');
  } finally {
    await w.cleanup();
  }
});

test('a restart mid-download hashes the partial file again and goes on from its first bad chunk, under a changed ETag without starting over', async () => {
  const w = await world();
  try {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    w.gateway.beforeBlock = (_id, num) => (num === 22 ? held : undefined);
    w.running = await startAgent(w);
    const update = await offer(w);
    w.gateway.setUpdates([update]);
    await w.gateway.waitFor(() => (w.gateway.served.get('u2') ?? []).includes(22), 'block 22 asked for');
    // Stopped with block 22 in hand: chunks 0-4 verified and persisted, chunk 5 half written.
    const stopped = w.running.agent.stop();
    release();
    await stopped;
    w.running = undefined;
    w.gateway.beforeBlock = () => {};
    // Meanwhile chunk 3 of the partial file rots on disk, and the gateway's ETag changes.
    const partial = join(w.data, 'downloads', 'u2.part');
    await writeFile(partial, flipped(await readFile(partial), 3 * CHUNK + 5));
    w.gateway.etags.set('u2', Buffer.from('0badc0de', 'hex'));
    const before = w.gateway.served.get('u2')!.length;

    w.running = await startAgent(w);
    const outcome = await w.gateway.outcome('u2');
    assert.equal(outcome, { state: 'installed', progress: 1, error: null });
    // From chunk 3 (block 12), not from block 20 where it stopped, nor from 0 for the ETag.
    assert.equal(w.gateway.served.get('u2')!.slice(before), range(12, BLOCKS));
    assert.is(await installedImage(w), update.sha256);
    const verifiedAgain = w.logs.find((entry) => entry.msg === 'partial image verified again chunk by chunk');
    assert.equal([verifiedAgain?.persisted, verifiedAgain?.verified], [5 * CHUNK, 3 * CHUNK]);
  } finally {
    await w.cleanup();
  }
});

test.run();
