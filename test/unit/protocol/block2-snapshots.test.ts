// The Block2 snapshot store (block2-snapshots.ts) on the virtual clock: a reader is its
// address and its identity (another identity from the same address never sees a
// snapshot, the same identity on a new session goes on reading it); readers share one
// copy of the same bytes; each keeps a bounded few; snapshots expire.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Block2Snapshots } from '../../../src/protocol/block2-snapshots.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { Peer } from '../../../src/protocol/interfaces.js';
import type { CoapRequest, ResponseInit } from '../../../src/protocol/server-types.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

const LIFETIME_MS = 247_000;
const request = (peer: Peer, path = 'nodes'): CoapRequest => ({
  method: 1, path: [path], params: {}, query: [], options: [], payload: Buffer.alloc(0), contentFormat: undefined, accept: undefined,
  peer, token: Buffer.alloc(0), message: undefined as never,
} as unknown as CoapRequest);
const rendering = (text: string): ResponseInit => ({ code: ResponseCode.Content, payload: Buffer.from(text), etag: Buffer.from(text.slice(0, 8)) });
const alice: Peer = { address: '127.0.0.1', port: 5000, identity: 'operator:alice' };

test('the same identity from the same address reads its snapshot across sessions; another identity there does not', () => {
  const snapshots = new Block2Snapshots(new VirtualClock(), LIFETIME_MS);
  const kept = rendering('version 1 of the list');
  snapshots.keep(request(alice), kept);
  assert.is(snapshots.get(request({ ...alice })), kept, 'a new session of the same identity');
  assert.is(snapshots.get(request({ ...alice, identity: 'node:n1' })), undefined, 'another identity from the same address');
  assert.is(snapshots.get(request({ ...alice, port: 5001 })), undefined, 'another address');
  assert.is(snapshots.get(request(alice, 'updates')), undefined, 'another resource');
});

test('a snapshot expires with its lifetime; the store holds a bounded few per reader and a bounded number of readers', () => {
  const clock = new VirtualClock();
  const snapshots = new Block2Snapshots(clock, LIFETIME_MS, { perPeer: 2, peers: 3 });
  for (const path of ['a', 'b', 'c']) snapshots.keep(request(alice, path), rendering(`rendering of ${path}`));
  assert.is(snapshots.get(request(alice, 'a')), undefined, 'its oldest went');
  assert.ok(snapshots.get(request(alice, 'c')) !== undefined);
  for (const port of [1, 2, 3]) snapshots.keep(request({ address: '127.0.0.2', port }), rendering(`rendering for ${port}`));
  assert.is(snapshots.size, 3, 'the reader that kept nothing for longest went');
  assert.is(snapshots.get(request(alice, 'c')), undefined);
  clock.advance(LIFETIME_MS);
  assert.is(snapshots.get(request({ address: '127.0.0.2', port: 3 })), undefined, 'expired');
});

test('readers of the same bytes share one kept representation; different bytes under one URI are kept apart', () => {
  const snapshots = new Block2Snapshots(new VirtualClock(), LIFETIME_MS);
  const first = rendering('the manifest of fw-2.0');
  snapshots.keep(request({ address: '127.0.0.3', port: 1, identity: 'node:1' }), first);
  snapshots.keep(request({ address: '127.0.0.3', port: 2, identity: 'node:2' }), rendering('the manifest of fw-2.0'));
  assert.is(snapshots.get(request({ address: '127.0.0.3', port: 2, identity: 'node:2' })), first, 'the first copy, shared');
  const other = rendering('the manifest of fw-2.0, operator view');
  snapshots.keep(request(alice), other);
  assert.is(snapshots.get(request(alice)), other);
  assert.is(snapshots.get(request({ address: '127.0.0.3', port: 1, identity: 'node:1' })), first);
});

test.run();
