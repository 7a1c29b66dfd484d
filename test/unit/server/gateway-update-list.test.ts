// GET /updates as the history grows (issue 9, item 3): a node is offered only what it can
// still act on, however many releases are behind it, and the operator's list comes in
// pages that visit every update exactly once. The history is seeded in one LMDB
// transaction (300 finished releases through the API would only make the test slow);
// every read goes over CoAP to the real gateway.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { getUintOption, OptionNumber } from '../../../src/protocol/options.js';
import { NODE_UPDATES_MAX_AGE_S } from '../../../src/server/resources-updates.js';
import type { RolloutRecord } from '../../../src/server/records.js';
import { bodyOf, manifestFor, startTestGateway, unexpectedLogs, type TestGateway } from './gateway-harness.js';

const OPERATOR = 'operator:alice';
const TARGETS = ['n1', ...Array.from({ length: 9 }, (_, index) => `node-${index}`)];

interface Listed { update_id: string; rollout: string }
interface Page { updates: Listed[]; next: string | null }

/** A page may be larger than the bound of request bodies that bodyOf applies. */
const pageOf = (response: { payload: Buffer }): Page => JSON.parse(response.payload.toString('utf8')) as Page;

async function withGateway(run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway();
  try {
    await run(gw);
    assert.equal(unexpectedLogs(gw.logs), [], 'no unexpected warn or error log lines');
  } finally {
    await gw.close();
  }
}

/** `count` releases every target has installed: completed rollouts. */
async function seedCompleted(gw: TestGateway, count: number): Promise<void> {
  const at = new Date().toISOString();
  await gw.gateway.store.atomically((writer) => {
    for (let index = 0; index < count; index++) {
      const manifest = manifestFor(`fw-1.${String(index).padStart(3, '0')}`, TARGETS, { version: `1.${index}.0` });
      const record: RolloutRecord = { manifest, operator_state: 'active', image_ready: true, created_at: at, created_by: OPERATOR };
      writer.putUpdate(record);
      for (const node of TARGETS) writer.putStatus(manifest.update_id, node, { state: 'installed', progress: 1, error: null, updated_at: at });
    }
  });
}

test('300 completed releases and 1 active: a node is offered the 1, in a small representation', () => withGateway(async (gw) => {
  await seedCompleted(gw, 300);
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  assert.is((await gw.request(operator, 'POST', '/updates', manifestFor('fw-2.0', TARGETS, { version: '2.0.0' }))).code, ResponseCode.Created);
  assert.is(bodyOf(await gw.request(operator, 'GET', '/updates/fw-1.000')).rollout, 'completed', 'the history stays in the store');

  const list = await gw.request(n1, 'GET', '/updates');
  assert.is(list.code, ResponseCode.Content);
  assert.equal(bodyOf<{ updates: Listed[] }>(list).updates.map((entry) => entry.update_id), ['fw-2.0']);
  assert.ok(list.payload.length < 2048, `${list.payload.length} bytes`);
  assert.is(getUintOption(list.options, OptionNumber.MaxAge), NODE_UPDATES_MAX_AGE_S, 'a long Max-Age: the node renews its observation seldom (RFC 7641 §3.3.1)');
  const local = await gw.client();
  const forNode = bodyOf<{ updates: Listed[] }>(await gw.request(local, 'GET', '/updates', undefined, { query: ['node=n1'] }));
  assert.equal(forNode.updates.map((entry) => entry.update_id), ['fw-2.0'], 'the same view with ?node= for local tooling');
}));

test('the operator\'s list pages through all 301 updates exactly once, with a next cursor', () => withGateway(async (gw) => {
  await seedCompleted(gw, 300);
  const operator = await gw.client(OPERATOR);
  await gw.request(operator, 'POST', '/updates', manifestFor('fw-2.0', TARGETS, { version: '2.0.0' }));

  const first = pageOf(await gw.request(operator, 'GET', '/updates'));
  assert.is(first.updates.length, 100, 'a default page of 100');
  assert.is(first.next, first.updates.at(-1)!.update_id);

  const seen: string[] = [];
  let after: string | null | undefined;
  for (let page = 0; page < 20 && after !== null; page++) {
    const query = ['limit=64', ...(after === undefined ? [] : [`after=${after}`])];
    const body = pageOf(await gw.request(operator, 'GET', '/updates', undefined, { query }));
    assert.ok(body.updates.length <= 64);
    seen.push(...body.updates.map((entry) => entry.update_id));
    after = body.next;
  }
  assert.is(after, null, 'the last page says there is no next');
  assert.is(seen.length, 301);
  assert.is(new Set(seen).size, 301, 'each update once');
  assert.ok(seen.includes('fw-2.0'));

  const big = await gw.request(operator, 'GET', '/updates', undefined, { query: ['limit=1000'] });
  assert.ok(big.payload.length < 70 * 1024, `a page is bounded in bytes too: ${big.payload.length}`);
  assert.ok(pageOf(big).updates.length < 301 && pageOf(big).next !== null);

  for (const query of [['limit=0'], ['limit=1001'], ['limit=ten'], ['after=a/b']]) {
    assert.is((await gw.request(operator, 'GET', '/updates', undefined, { query })).code, ResponseCode.BadRequest, query.join('&'));
  }
}));

test('a cancelled or aborted update stays in a node\'s list while it is mid-way, and leaves once it reports its end', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  const n2 = await gw.client('node:n2');
  await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1', 'n2']));
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'downloading', progress: 0.5 })).code, ResponseCode.Changed);
  await gw.request(operator, 'DELETE', '/updates/u1');
  const listed = (client: typeof n1) => gw.request(client, 'GET', '/updates').then((response) => bodyOf<{ updates: Listed[] }>(response).updates);
  assert.equal((await listed(n1)).map((entry) => [entry.update_id, entry.rollout]), [['u1', 'cancelled']], 'n1 hears to stop');
  assert.equal(await listed(n2), [], 'n2 never started it');
  assert.is((await gw.request(n1, 'PUT', '/updates/u1/status', { state: 'failed', error: 'rollout cancelled' })).code, ResponseCode.Changed);
  assert.equal(await listed(n1), [], 'gone once n1 is done with it');

  await gw.request(operator, 'POST', '/updates', manifestFor('u2', ['n1', 'n2'], { policy: { failure_threshold: 1 } }));
  await gw.request(n2, 'PUT', '/updates/u2/status', { state: 'downloading', progress: 0.1 });
  await gw.request(n1, 'PUT', '/updates/u2/status', { state: 'failed', error: 'bad disk' });
  assert.equal(await listed(n1), [], 'a node whose own state is final is offered nothing');
  assert.equal((await listed(n2)).map((entry) => [entry.update_id, entry.rollout]), [['u2', 'aborted']]);
}));

test.run();
