// Publishing edge cases against the gateway over real UDP (issue 9, item 6): a manifest
// of 10,000 targets goes block-wise, an empty image is refused, and a publish cut off
// mid-upload is finished by publishing again with the CLI's own publish code.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openGateway } from '../../../src/operator/gateway-client.js';
import { publishImage } from '../../../src/operator/publish.js';
import {
  DEFAULT_CHUNK_SIZE, DEFAULT_POLICY, MAX_IMAGE_SIZE, MAX_MANIFEST_BYTES, MAX_TARGETS, parseManifest, signManifest, verifyManifest, type Manifest,
} from '../../../src/fleet/manifest.js';
import { memorySink } from '../../../src/protocol/block-client.js';
import { bufferBody } from '../../../src/protocol/body.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { getStringOptions, OptionNumber } from '../../../src/protocol/options.js';
import {
  bodyOf, manifestFor, publisher, rejection, sha256, startTestGateway, unexpectedLogs, type TestGateway,
} from './gateway-harness.js';

const OPERATOR = 'operator:alice';

async function withGateway(run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway();
  try {
    await run(gw);
    assert.equal(unexpectedLogs(gw.logs, ['request denied', 'image upload refused']), [], 'no unexpected warn or error log lines');
  } finally {
    await gw.close();
  }
}

const peerOf = (gw: TestGateway) => ({ address: '127.0.0.1', port: gw.gateway.addresses().coap!.port });

test('a signed manifest of 10,000 targets with 64-character ids posts block-wise (2.01) and reads back whole', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const targets = Array.from({ length: MAX_TARGETS }, (_, index) => `node-${String(index).padStart(5, '0')}-${'x'.repeat(53)}`);
  const manifest = manifestFor('big', targets);
  const body = Buffer.from(JSON.stringify(manifest));
  assert.ok(body.length > 600 * 1024, `${body.length} bytes`);
  const created = await operator.request({ peer: peerOf(gw), path: '/updates', method: Method.POST, payload: body, contentFormat: ContentFormat.Json });
  assert.is(created.code, ResponseCode.Created, created.payload.toString());
  const detail = await operator.request({ peer: peerOf(gw), path: '/updates/big', accept: ContentFormat.Json, maxBodySize: 4 * 1024 * 1024 });
  assert.is(detail.code, ResponseCode.Content);
  const read = JSON.parse(detail.payload.toString('utf8')) as { target_nodes: string[]; signature: string; targets: number };
  assert.is(read.targets, MAX_TARGETS);
  assert.equal(read.target_nodes, targets);
  assert.is(read.signature, manifest.signature);
}));

test('a format 2 manifest of the largest image (1 GiB: 16,384 chunk hashes) posts block-wise and is listed to its node unchanged, verifiable', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const chunks = Array.from({ length: MAX_IMAGE_SIZE / DEFAULT_CHUNK_SIZE }, (_, index) => sha256(Buffer.from(String(index))));
  const manifest = signManifest({
    update_id: 'v2', version: '2.0.0', size: MAX_IMAGE_SIZE, checksum: `sha256:${sha256(Buffer.from('whole'))}`, target_nodes: ['n1'],
    policy: DEFAULT_POLICY, manifest_version: 2, chunk_size: DEFAULT_CHUNK_SIZE, chunks,
  }, publisher.privateKey);
  const body = Buffer.from(JSON.stringify(manifest));
  assert.ok(body.length > 1024 * 1024, `${body.length} bytes`);
  const created = await operator.request({ peer: peerOf(gw), path: '/updates', method: Method.POST, payload: body, contentFormat: ContentFormat.Json });
  assert.is(created.code, ResponseCode.Created, created.payload.toString());
  const listed = await n1.request({ peer: peerOf(gw), path: '/updates', accept: ContentFormat.Json, maxBodySize: MAX_MANIFEST_BYTES });
  const [entry] = (JSON.parse(listed.payload.toString('utf8')) as { updates: Record<string, unknown>[] }).updates;
  const parsed = parseManifest(entry);
  assert.ok('manifest' in parsed, JSON.stringify(parsed).slice(0, 200));
  const { manifest: received } = parsed as { manifest: Manifest };
  assert.equal(received, manifest);
  assert.ok(verifyManifest(received, publisher.publicKey));
}));

test(`the manifest bound holds: over ${MAX_MANIFEST_BYTES} bytes is 4.13, and a node\'s large POST is refused at its first block`, () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const huge = Buffer.from(JSON.stringify({ ...manifestFor('huge', ['n1']), padding: 'x'.repeat(MAX_MANIFEST_BYTES) }));
  const refused = await rejection(operator.request({ peer: peerOf(gw), path: '/updates', method: Method.POST, payload: huge, contentFormat: ContentFormat.Json }));
  assert.is((refused as { responseCode?: number }).responseCode, ResponseCode.RequestEntityTooLarge);
  assert.match((refused as Error).message, `at most ${MAX_MANIFEST_BYTES} bytes`);
  const large = Buffer.from(JSON.stringify(manifestFor('n1-made', Array.from({ length: 5000 }, (_, index) => `node-${index}`))));
  let accepted = 0;
  const denied = await n1.upload({
    peer: peerOf(gw), path: '/updates', method: Method.POST, source: bufferBody(large), contentFormat: ContentFormat.Json,
    onProgress: (sent) => { accepted = sent; },
  });
  assert.is(denied.code, ResponseCode.Forbidden);
  assert.is(accepted, 0, 'not one block was taken before the access table said no');
  assert.is(gw.gateway.store.getUpdate('n1-made'), undefined);
}));

test('an empty image is refused at the gateway with 4.00 naming the size', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const refused = await gw.request(operator, 'POST', '/updates', manifestFor('empty', ['n1'], { image: Buffer.alloc(0) }));
  assert.is(refused.code, ResponseCode.BadRequest);
  assert.match(refused.payload.toString(), 'size: 0: the image is empty');
  assert.is(gw.gateway.store.getUpdate('empty'), undefined);
}));

test('a publish interrupted mid-upload is finished by publishing again: 2.04, image ready, sha256 right', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-publish-'));
  try {
    await withGateway(async (gw) => {
      const image = randomBytes(96 * 1024);
      const imagePath = join(dir, 'image.bin');
      await writeFile(imagePath, image);
      const manifest = manifestFor('fw-2.0.0', ['n1'], { image, version: '2.0.0' });

      // The first publish: created, then its upload cut off after 16 blocks.
      const first = await gw.client(OPERATOR);
      assert.is((await gw.request(first, 'POST', '/updates', manifest)).code, ResponseCode.Created);
      const cut = new AbortController();
      await rejection(first.upload({
        peer: peerOf(gw), path: '/updates/fw-2.0.0/download', method: Method.PUT, source: bufferBody(image), signal: cut.signal,
        onProgress: (sent) => { if (sent >= 16 * 1024) cut.abort(new Error('publisher interrupted')); },
      }));
      assert.is(bodyOf(await gw.request(first, 'GET', '/updates/fw-2.0.0')).image_ready, false);

      const other = await gw.request(first, 'POST', '/updates', manifestFor('fw-2.0.0', ['n1', 'n2'], { image, version: '2.0.0' }));
      assert.is(other.code, ResponseCode.Conflict, 'another manifest under the same id stays a conflict');
      assert.match(other.payload.toString(), 'exists with another manifest');

      // Publishing again, with the operator's own code (plain CoAP on loopback: the local operator).
      const gateway = await openGateway({ gateway: `coap://127.0.0.1:${peerOf(gw).port}` });
      let resumedId: string | undefined;
      try {
        const published = await publishImage(gateway, {
          image: imagePath, version: '2.0.0', updateId: 'fw-2.0.0', targets: ['n1'], policy: DEFAULT_POLICY,
          privateKey: publisher.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          // The same manifest as the first publish's (manifestFor signs format 1).
          manifestVersion: 1,
          progress: { onResume: (updateId) => { resumedId = updateId; } },
        });
        assert.is(published.signature, manifest.signature);
      } finally {
        await gateway.close();
      }
      assert.is(resumedId, 'fw-2.0.0', 'the gateway kept the update without its image: the upload starts again');
      assert.is(bodyOf(await gw.request(first, 'GET', '/updates/fw-2.0.0')).image_ready, true);
      const n1 = await gw.client('node:n1');
      const sink = memorySink();
      await n1.download({ peer: peerOf(gw), path: '/updates/fw-2.0.0/download', sink });
      assert.is(sha256(sink.body()), sha256(image));

      const again = await gw.request(first, 'POST', '/updates', manifest);
      assert.is(again.code, ResponseCode.Conflict, 'nothing left to resume once the image is in');
      assert.match(again.payload.toString(), 'its image is uploaded');
      const u9 = manifestFor('u9', ['n1']);
      await gw.request(first, 'POST', '/updates', u9);
      const resumed = await gw.request(first, 'POST', '/updates', u9);
      assert.is(resumed.code, ResponseCode.Changed, 'the same manifest, no image yet: resumable');
      assert.equal(getStringOptions(resumed.options, OptionNumber.LocationPath), ['updates', 'u9']);
      await gw.request(first, 'DELETE', '/updates/u9');
      assert.is((await gw.request(first, 'POST', '/updates', u9)).code, ResponseCode.Conflict, 'a cancelled update is not resumed');
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
