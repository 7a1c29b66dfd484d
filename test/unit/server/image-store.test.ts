// The firmware store: an upload becomes the image at its content address only when size
// and sha256 match the manifest; a mismatch or an oversize upload leaves nothing behind.

import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ResponseError } from '../../../src/protocol/errors.js';
import { imageEtag } from '../../../src/fleet/image-checksum.js';
import type { Logger } from '../../../src/protocol/interfaces.js';
import { ImageStore } from '../../../src/server/image-store.js';
import { sha256, rejection } from './gateway-harness.js';

async function withStore(run: (store: ImageStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-images-'));
  try {
    await run(await ImageStore.open(dir), dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const isCode = (code: number) => (error: unknown): boolean => error instanceof ResponseError && error.responseCode === code;

test('a matching upload is stored under its sha256, in chunks as they come', () => withStore(async (store, dir) => {
  const image = randomBytes(5000);
  const digest = sha256(image);
  const upload = await store.beginUpload({ sha256: digest, size: image.length });
  for (let offset = 0; offset < image.length; offset += 1024) await upload.write(image.subarray(offset, offset + 1024), offset);
  await upload.complete();
  assert.ok((await readFile(join(dir, digest))).equals(image));
  assert.equal(await store.incomingFiles(), []);
  assert.ok(await store.has({ sha256: digest, size: image.length }));
  assert.is(await store.sizeOf(digest), 5000);
  assert.is(imageEtag(digest).toString('hex'), digest.slice(0, 16));
}));

test('a wrong sha256 is a 4.00 naming both digests, and nothing is left behind', () => withStore(async (store, dir) => {
  const image = randomBytes(3000);
  const claimed = sha256(Buffer.from('something else'));
  const upload = await store.beginUpload({ sha256: claimed, size: image.length });
  await upload.write(image, 0);
  const error = await upload.complete().then(() => undefined, (caught: unknown) => caught);
  assert.ok(isCode(ResponseCode.BadRequest)(error));
  assert.match((error as ResponseError).diagnostic!, `sha256 mismatch: got ${sha256(image)}, the manifest says ${claimed}`);
  assert.equal(await store.incomingFiles(), []);
  assert.equal((await readdir(dir)).filter((name) => name !== '.incoming'), []);
  await upload.abort(); // the reassembler may abort it again: harmless
}));

test('bytes past the manifest size are a 4.13 with Size1, the temporary file removed at once', () => withStore(async (store) => {
  const upload = await store.beginUpload({ sha256: sha256(Buffer.alloc(100)), size: 100 });
  await upload.write(Buffer.alloc(64), 0);
  assert.ok(isCode(ResponseCode.RequestEntityTooLarge)(await rejection(upload.write(Buffer.alloc(64), 64))));
  assert.equal(await store.incomingFiles(), []);
}));

test('a short upload is a 4.00 size mismatch', () => withStore(async (store) => {
  const upload = await store.beginUpload({ sha256: sha256(Buffer.alloc(100)), size: 100 });
  await upload.write(Buffer.alloc(60), 0);
  const error = await rejection(upload.complete());
  assert.ok(isCode(ResponseCode.BadRequest)(error) && /size mismatch/.test((error as ResponseError).diagnostic ?? ''));
  assert.equal(await store.incomingFiles(), []);
}));

test('temporary files of an interrupted upload are removed when the store opens', () => withStore(async (store, dir) => {
  const upload = await store.beginUpload({ sha256: sha256(Buffer.alloc(10)), size: 10 });
  await upload.write(Buffer.alloc(5), 0);
  assert.is((await store.incomingFiles()).length, 1);
  await upload.abort();
  const again = await store.beginUpload({ sha256: sha256(Buffer.alloc(10)), size: 10 });
  await again.write(Buffer.alloc(5), 0);
  const reopened = await ImageStore.open(dir);
  assert.equal(await reopened.incomingFiles(), []);
  await again.abort();
}));

test('an upload moves receiving -> stored or receiving -> discarded, each move logged; a discarded or stored upload takes no more blocks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-images-'));
  const moves: string[] = [];
  const ignore = (): void => {};
  const logger: Logger = { info: ignore, warn: ignore, error: ignore, debug: (_fields, message) => { moves.push(message ?? ''); } };
  try {
    const store = await ImageStore.open(dir, undefined, logger);
    const image = randomBytes(100);
    const kept = await store.beginUpload({ sha256: sha256(image), size: image.length });
    await kept.write(image, 0);
    await kept.complete();
    assert.is(kept.state, 'stored');
    await kept.abort();
    assert.is(kept.state, 'stored', 'abort after stored changes nothing');
    assert.ok(isCode(ResponseCode.RequestEntityIncomplete)(await rejection(kept.write(image, 0))));
    const dropped = await store.beginUpload({ sha256: sha256(image), size: image.length });
    await dropped.write(image.subarray(0, 10), 0);
    await Promise.all([dropped.abort(), dropped.abort()]);
    assert.is(dropped.state, 'discarded');
    assert.equal(await store.incomingFiles(), [], 'both aborts return once the file is gone');
    assert.ok(isCode(ResponseCode.RequestEntityIncomplete)(await rejection(dropped.complete())));
    assert.equal(moves, ['image upload receiving -> stored', 'image upload receiving -> discarded']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
