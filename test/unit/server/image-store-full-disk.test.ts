// The firmware store on a full disk (a real tmpfs, filled): an upload that does not fit is
// refused at its start, one that runs out of room mid-way is refused at the block that
// failed; both are 5.03 saying "no space left for the image" and leave no partial file.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StoreWriteError } from '../../../src/fleet/errors.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ResponseError } from '../../../src/protocol/errors.js';
import { ImageStore } from '../../../src/server/image-store.js';
import { SmallDisk } from '../../helpers/storage-faults.js';

async function withSmallDisk(run: (disk: SmallDisk) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-images-full-'));
  const disk = SmallDisk.mount(dir, 4);
  try {
    if (typeof disk === 'string') {
      console.log(`SKIPPED: ${disk}`);
      return;
    }
    try {
      await run(disk);
    } finally {
      disk.unmount();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function refusal(promise: Promise<unknown>): Promise<ResponseError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  assert.instance(error, ResponseError);
  return error as ResponseError;
}

test('an image larger than the free space is a 5.03 "no space left for the image: N bytes needed" before anything is written', () => withSmallDisk(async (disk) => {
  const failures: StoreWriteError[] = [];
  const store = await ImageStore.open(disk.directory, (failure) => failures.push(failure));
  const error = await refusal(store.beginUpload({ sha256: sha256(Buffer.alloc(1)), size: 8 * 1024 * 1024 }));
  assert.is(error.responseCode, ResponseCode.ServiceUnavailable);
  assert.is(error.diagnostic, `no space left for the image: ${8 * 1024 * 1024} bytes needed`);
  assert.is(error.maxAge, 30);
  assert.equal(failures.map((failure) => failure.code), ['STORE_NO_SPACE']);
  assert.equal(await store.incomingFiles(), []);
}));

test('a disk that fills during an upload: the failing block is a 5.03 "no space left for the image", the partial file is removed, and the disk takes the image once freed', () => withSmallDisk(async (disk) => {
  const store = await ImageStore.open(disk.directory);
  const image = randomBytes(1024 * 1024);
  const expected = { sha256: sha256(image), size: image.length };
  const upload = await store.beginUpload(expected);
  await upload.write(image.subarray(0, 65_536), 0);
  await disk.fill();
  const error = await refusal(upload.write(image.subarray(65_536, 131_072), 65_536));
  assert.is(error.responseCode, ResponseCode.ServiceUnavailable);
  assert.is(error.diagnostic, `no space left for the image: ${image.length - 65_536} bytes needed`);
  assert.equal(await store.incomingFiles(), []);

  await disk.free();
  const again = await store.beginUpload(expected);
  for (let offset = 0; offset < image.length; offset += 65_536) await again.write(image.subarray(offset, offset + 65_536), offset);
  await again.complete();
  assert.ok(await store.has(expected));
}));

test.run();
