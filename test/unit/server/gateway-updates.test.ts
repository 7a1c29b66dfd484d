// The gateway's update resources over real UDP with simulated DTLS identities: creating
// updates, the image upload (Block1) and download (Block2), install gating, status moves,
// the rollout's completion and abort, pause, resume, cancel, and what observers hear.

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCbor } from '../../../src/fleet/cbor.js';
import { memorySink } from '../../../src/protocol/block-client.js';
import { bufferBody } from '../../../src/protocol/body.js';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { getOption, getStringOptions, getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import {
  bodyOf, eventually, manifestFor, notificationMatching, publisher, sha256, startTestGateway, unexpectedLogs, type TestGateway,
} from './gateway-harness.js';

const OPERATOR = 'operator:alice';

async function withGateway(run: (gw: TestGateway) => Promise<void>, overrides = {}): Promise<void> {
  const gw = await startTestGateway(overrides);
  try {
    await run(gw);
    assert.equal(unexpectedLogs(gw.logs, ['request denied', 'image upload refused']), [], 'no unexpected warn or error log lines');
  } finally {
    await gw.close();
  }
}

test('an operator creates an update: 2.01 with Location-Path, 4.09 for the id with another manifest, 4.00 naming bad fields', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const manifest = manifestFor('u1', ['n1', 'n2']);
  const created = await gw.request(operator, 'POST', '/updates', manifest);
  assert.is(created.code, ResponseCode.Created);
  assert.equal(getStringOptions(created.options, OptionNumber.LocationPath), ['updates', 'u1']);
  assert.is((await gw.request(operator, 'POST', '/updates', manifest)).code, ResponseCode.Changed, 'the same manifest, image not uploaded: a publish resumed');
  assert.is((await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']))).code, ResponseCode.Conflict);
  const bad = await gw.request(operator, 'POST', '/updates', { ...manifest, checksum: 'md5:x', target_nodes: [] });
  assert.is(bad.code, ResponseCode.BadRequest);
  assert.match(bad.payload.toString(), 'checksum: "sha256:" + 64 lowercase hex; target_nodes');
  const detail = bodyOf(await gw.request(operator, 'GET', '/updates/u1'));
  assert.is(detail.rollout, 'active');
  assert.is(detail.image_ready, false);
  assert.is(detail.created_by, OPERATOR);
  assert.equal(detail.counts, { pending: 2, downloading: 0, downloaded: 0, installing: 0, installed: 0, failed: 0, rolled_back: 0 });
  assert.is(gw.gateway.store.recentAudit(5).find((entry) => entry.action === 'update.create')?.who, OPERATOR);
}));

test('nodes cannot create updates, write status for others, or touch other updates: 4.03, logged and audited', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));
  await gw.request(operator, 'POST', '/updates', manifestFor('u2', ['n2']));
  assert.is((await gw.request(n1, 'POST', '/updates', manifestFor('u3', ['n1']))).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'PUT', '/updates/u2/status', { state: 'downloading', progress: 0.1 })).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'GET', '/updates/u2')).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/download', 'x')).code, ResponseCode.Forbidden);
  assert.is((await gw.request(n1, 'DELETE', '/updates/u1')).code, ResponseCode.Forbidden);
  assert.is((await gw.request(operator, 'PUT', '/updates/u1/status', { state: 'installed' })).code, ResponseCode.Forbidden, 'an operator has no status entry');
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.1 })).code, ResponseCode.Changed);
  const denialsNow = () => gw.gateway.store.recentAudit(20).filter((entry) => entry.action === 'access.denied');
  await eventually(() => denialsNow().length === 6);
  const denials = denialsNow();
  assert.ok(denials.some((entry) => entry.who === 'node:n1' && entry.target === '/updates' && /POST 4.03/.test(entry.detail ?? '')));
  assert.is(gw.logs.filter((line) => line.msg === 'request denied').length, 6);
}));

test('a 1 MiB image goes up block-wise and comes down byte for byte, with ETag, Size2 and resume', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const image = randomBytes(1024 * 1024);
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1'], { image }));
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  const early = await gw.request(n1, 'GET', '/updates/u1/download');
  assert.is(early.code, ResponseCode.NotFound, 'nothing to download before the upload');
  assert.is(early.payload.toString(), 'image not uploaded yet');

  const { observation, first } = await n1.observe({ peer, path: '/updates' });
  assert.is(bodyOf<{ updates: { image_ready: boolean }[] }>(first).updates[0]!.image_ready, false);
  const notifications = observation[Symbol.asyncIterator]();

  const uploaded = await operator.upload({ peer, path: '/updates/u1/download', method: Method.PUT, source: bufferBody(image) });
  assert.is(uploaded.code, ResponseCode.Changed);
  const listed = await notificationMatching<{ updates: { image_ready: boolean; rollout: string }[] }>(notifications, (body) => body.updates[0]!.image_ready);
  assert.is(listed.updates[0]!.rollout, 'active');
  await observation.cancel();

  const sink = memorySink();
  const downloaded = await n1.download({ peer, path: '/updates/u1/download', sink });
  assert.is(downloaded.size, image.length);
  assert.ok(sink.body().equals(image), 'byte-identical');
  assert.is(downloaded.etag?.toString('hex'), sha256(image).slice(0, 16), 'ETag: the first 8 bytes of the sha256');
  assert.is(getUintOption(downloaded.last.options, OptionNumber.Size2), image.length);
  assert.is(getUintOption(downloaded.last.options, OptionNumber.ContentFormat), ContentFormat.OctetStream);

  const resumed = memorySink();
  const offset = 700 * 1024;
  await n1.download({ peer, path: '/updates/u1/download', sink: resumed, startOffset: offset, etag: downloaded.etag! });
  assert.ok(resumed.body().equals(image.subarray(offset)), 'any block on request: a download resumes mid-way');
  assert.equal(await gw.gateway.images.incomingFiles(), []);
  assert.ok(await gw.gateway.images.has({ sha256: sha256(image), size: image.length }));
}));

test('an upload with the wrong sha256 is 4.00 with a diagnostic and leaves nothing; over the size is 4.13', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  const image = randomBytes(20_000);
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1'], { image }));
  const tampered = Buffer.from(image);
  tampered[12_345] ^= 0xff;
  const refused = await operator.upload({ peer, path: '/updates/u1/download', method: Method.PUT, source: bufferBody(tampered) });
  assert.is(refused.code, ResponseCode.BadRequest);
  assert.match(refused.payload.toString(), `sha256 mismatch: got ${sha256(tampered)}, the manifest says ${sha256(image)}`);
  assert.equal(await gw.gateway.images.incomingFiles(), []);
  assert.is(await gw.gateway.images.sizeOf(sha256(image)), undefined);
  assert.is(bodyOf(await gw.request(operator, 'GET', '/updates/u1')).image_ready, false);

  const larger = await operator.upload({ peer, path: '/updates/u1/download', method: Method.PUT, source: bufferBody(Buffer.concat([image, Buffer.alloc(10)])) })
    .then((response) => response.code, (error: { responseCode?: number }) => error.responseCode);
  assert.is(larger, ResponseCode.RequestEntityTooLarge, 'Size1 over the manifest size is refused up front');
  assert.equal(await gw.gateway.images.incomingFiles(), []);

  const accepted = await operator.upload({ peer, path: '/updates/u1/download', method: Method.PUT, source: bufferBody(image) });
  assert.is(accepted.code, ResponseCode.Changed);
}));

test('install gating with max_parallel_installs = 1: the second node waits (5.03, Max-Age) until the first is done', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const n2 = await gw.client('node:n2');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], { policy: { max_parallel_installs: 1, failure_threshold: 2 } }));
  for (const node of [n1, n2]) {
    for (const state of ['downloading', 'downloaded']) assert.is((await gw.request(node, 'PUT', '/updates/u1/status', { state, progress: 1 })).code, ResponseCode.Changed);
  }
  const [first, second] = await Promise.all([gw.request(n1, 'POST', '/updates/u1/install'), gw.request(n2, 'POST', '/updates/u1/install')]);
  const codes = [first.code, second.code].sort();
  assert.equal(codes, [ResponseCode.Changed, ResponseCode.ServiceUnavailable].sort(), 'exactly one of two simultaneous asks gets the slot');
  const [winner, loser] = first.code === ResponseCode.Changed ? [n1, n2] : [n2, n1];
  const waiting = first.code === ResponseCode.Changed ? second : first;
  assert.is(getUintOption(waiting.options, OptionNumber.MaxAge), 5);
  assert.match(waiting.payload.toString(), '1 installing, at most 1');
  assert.is((await gw.request(winner, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'asking again keeps the slot');
  const status = bodyOf<{ nodes: Record<string, { state: string }> }>(await gw.request(operator, 'GET', '/updates/u1/status'));
  assert.equal(Object.values(status.nodes).map((entry) => entry.state).sort(), ['downloaded', 'installing']);

  assert.is((await gw.request(winner, 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 })).code, ResponseCode.Changed);
  assert.is((await gw.request(loser, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'the slot is free again');
  assert.is((await gw.request(winner, 'POST', '/updates/u1/install')).code, ResponseCode.Conflict, 'installed already');
  assert.ok(gw.gateway.store.recentAudit(20).filter((entry) => entry.action === 'install.grant').length === 2);
}));

test('status moves: forward taken, backwards 4.09; all targets final completes the rollout, observers hear it', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const n2 = await gw.client('node:n2');
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], { policy: { failure_threshold: 2 } }));
  const { observation, first } = await operator.observe({ peer, path: '/updates/u1/status', accept: ContentFormat.Cbor });
  assert.is(first.contentFormat, ContentFormat.Cbor);
  const notifications = observation[Symbol.asyncIterator]();

  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.25 })).code, ResponseCode.Changed);
  const progress = await notificationMatching<{ nodes: Record<string, { progress: number }> }>(notifications, (body) => body.nodes.n1!.progress === 0.25);
  assert.is(progress.nodes.n2!.progress, 0);
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.5 })).code, ResponseCode.Changed);
  const backwards = await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'pending' });
  assert.is(backwards.code, ResponseCode.Conflict);
  assert.is(backwards.payload.toString(), 'cannot move from downloading to pending');
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'sideways' })).code, ResponseCode.BadRequest);
  // A report can be lost on the way: a jump forward is taken.
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 })).code, ResponseCode.Changed);
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'installed', progress: 1 })).code, ResponseCode.Changed, 'a repeated final report is harmless');
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'failed', error: 'late' })).code, ResponseCode.Conflict, 'nothing leaves a final state');
  assert.is(bodyOf(await gw.request(operator, 'GET', '/updates/u1')).rollout, 'active');
  assert.is((await gw.request(n2, 'PUT', '/updates/u1/status', { state: 'rolled_back', progress: 1, error: 'health check failed' })).code, ResponseCode.Changed);
  const done = await notificationMatching<{ rollout: string; counts: Record<string, number> }>(notifications, (body) => body.rollout === 'completed');
  assert.is(done.counts.installed, 1);
  assert.is(done.counts.rolled_back, 1);
  await observation.cancel();
  const refused = await gw.request(n2, 'POST', '/updates/u1/install');
  assert.is(refused.code, ResponseCode.Conflict, 'n2 is done with this update');
  assert.ok(gw.gateway.store.recentAudit(20).some((entry) => entry.action === 'rollout.completed'));
  assert.ok(gw.logs.some((line) => line.msg === 'rollout state' && line.to === 'completed'));
}));

test('a downloaded report overtaken by the same node\'s install request is acknowledged and changes nothing; other moves back stay 4.09', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.5 })).code, ResponseCode.Changed);
  assert.is((await gw.request(n1, 'POST', '/updates/u1/install')).code, ResponseCode.Changed, 'granted: installing');
  const late = await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloaded', progress: 1 });
  assert.is(late.code, ResponseCode.Changed, late.payload.toString());
  const status = bodyOf<{ nodes: Record<string, { state: string }> }>(await gw.request(operator, 'GET', '/updates/u1/status'));
  assert.is(status.nodes.n1!.state, 'installing', 'the grant stands');
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.9 })).code, ResponseCode.Conflict);
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloaded', progress: 1, error: 'odd' })).code, ResponseCode.Conflict, 'only the plain report is stale');
}));

test('the failure threshold aborts the rollout: the others are refused for good (4.03)', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const n2 = await gw.client('node:n2');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2', 'n3'], { policy: { failure_threshold: 1 } }));
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'failed', error: 'sha256 mismatch' })).code, ResponseCode.Changed);
  assert.is(bodyOf(await gw.request(operator, 'GET', '/updates/u1')).rollout, 'aborted');
  const refused = await gw.request(n2, 'POST', '/updates/u1/install');
  assert.is(refused.code, ResponseCode.Forbidden);
  assert.is(refused.payload.toString(), 'rollout aborted');
}));

test('pause, policy change, resume and cancel: 5.03 with Max-Age while paused, 4.03 once cancelled, hidden from nodes', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']));
  await gw.request(operator, 'POST', '/updates', manifestFor('u2', ['n2']));
  assert.equal(bodyOf<{ updates: { update_id: string }[] }>(await gw.request(n1, 'GET', '/updates')).updates.map((entry) => entry.update_id), ['u1'], 'a node sees its own updates');
  assert.is(bodyOf<{ updates: unknown[] }>(await gw.request(operator, 'GET', '/updates')).updates.length, 2, 'operators see all');

  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'paused' })).code, ResponseCode.Changed);
  const paused = await gw.request(n1, 'POST', '/updates/u1/install');
  assert.is(paused.code, ResponseCode.ServiceUnavailable);
  assert.is(getUintOption(paused.options, OptionNumber.MaxAge), 30);
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { policy: { max_parallel_installs: 4 } })).code, ResponseCode.Changed);
  const detail = bodyOf<{ policy: Record<string, number>; operator_state: string }>(await gw.request(operator, 'GET', '/updates/u1'));
  assert.equal(detail.policy, { max_parallel_installs: 4, canary: 0, failure_threshold: 1 }, 'unnamed policy fields keep their values');
  assert.is(detail.operator_state, 'paused');
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { policy: { canary: -1 } })).code, ResponseCode.BadRequest);
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'cancelled' })).code, ResponseCode.BadRequest, 'cancel is DELETE');
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { colour: 'red' })).code, ResponseCode.BadRequest);
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'active' })).code, ResponseCode.Changed);

  assert.is((await gw.request(operator, 'DELETE', '/updates/u1')).code, ResponseCode.Deleted);
  assert.is((await gw.request(operator, 'DELETE', '/updates/u1')).code, ResponseCode.Deleted, 'cancelling again is harmless');
  assert.is((await gw.request(operator, 'PUT', '/updates/u1', { state: 'active' })).code, ResponseCode.Conflict, 'a cancelled update stays cancelled');
  const cancelled = await gw.request(n1, 'POST', '/updates/u1/install');
  assert.is(cancelled.code, ResponseCode.Forbidden);
  assert.equal(bodyOf<{ updates: unknown[] }>(await gw.request(n1, 'GET', '/updates')).updates, [], 'nodes no longer see it');
  assert.is(bodyOf(await gw.request(operator, 'GET', '/updates/u1')).rollout, 'cancelled');
  assert.is((await gw.request(operator, 'DELETE', '/updates/nope')).code, ResponseCode.NotFound);
}));

test('entries of /updates are the manifest itself, verifiable as they are; CBOR in and out', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const manifest = manifestFor('u1', ['n1']);
  const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
  const created = await operator.request({ peer, path: '/updates', method: Method.POST, payload: encodeCbor(manifest), contentFormat: ContentFormat.Cbor });
  assert.is(created.code, ResponseCode.Created);
  const list = await gw.request(n1, 'GET', '/updates', undefined, { accept: ContentFormat.Cbor });
  assert.is(list.contentFormat, ContentFormat.Cbor);
  const [entry] = bodyOf<{ updates: Record<string, unknown>[] }>(list).updates;
  const { verifyManifest, parseManifest } = await import('../../../src/fleet/manifest.js');
  const parsed = parseManifest(entry);
  assert.ok('manifest' in parsed && verifyManifest(parsed.manifest, publisher.publicKey), 'the entry verifies with the publisher key');
  assert.is(entry!.rollout, 'active');
  assert.is(entry!.image_ready, false);
  assert.is((await gw.request(n1, 'GET', '/updates', undefined, { accept: ContentFormat.Xml })).code, ResponseCode.NotAcceptable);
  assert.ok(getOption(list.options, OptionNumber.ContentFormat) !== undefined);
}));

test('with a publisher key configured, a manifest it did not sign is refused', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'coap-fleet-key-'));
  const keyFile = join(dir, 'publisher.pub');
  await writeFile(keyFile, publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  try {
    await withGateway(async (gw) => {
      const operator = await gw.client(OPERATOR);
      const forged = { ...manifestFor('u1', ['n1']), target_nodes: ['n1', 'n2'] };
      const refused = await gw.request(operator, 'POST', '/updates', forged);
      assert.is(refused.code, ResponseCode.BadRequest);
      assert.is(refused.payload.toString(), 'signature does not verify with the publisher key');
      assert.is((await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']))).code, ResponseCode.Created);
    }, { publisher_key_file: keyFile });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a restart keeps updates, statuses and the image; the rollout goes on where it was', async () => {
  let gw = await startTestGateway();
  try {
    const operator = await gw.client(OPERATOR);
    const n1 = await gw.client('node:n1');
    const image = randomBytes(4096);
    const peer = { address: '127.0.0.1', port: gw.gateway.addresses().coap!.port };
    await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2'], { image, policy: { max_parallel_installs: 1 } }));
    await operator.upload({ peer, path: '/updates/u1/download', method: Method.PUT, source: bufferBody(image) });
    await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloaded', progress: 1 });
    assert.is((await gw.request(n1, 'POST', '/updates/u1/install')).code, ResponseCode.Changed);
    gw = await gw.restart();
    const n2 = await gw.client('node:n2');
    const after = await gw.client(OPERATOR);
    const detail = bodyOf<{ image_ready: boolean; counts: Record<string, number> }>(await gw.request(after, 'GET', '/updates/u1'));
    assert.is(detail.image_ready, true);
    assert.is(detail.counts.installing, 1);
    assert.is((await gw.request(n2, 'POST', '/updates/u1/install')).code, ResponseCode.ServiceUnavailable, 'n1 still holds the only slot');
  } finally {
    await gw.close();
  }
});

test.run();
