// GET /audit over real UDP and a real LMDB with simulated DTLS identities: what denials and
// rollouts write is read back by operators only, filtered, in pages that meet every entry
// once, as JSON or CBOR, Block2 when large; bad queries are 4.00 naming the problem.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCbor } from '../../../src/fleet/cbor.js';
import type { AuditPage } from '../../../src/fleet/views.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { MAX_AUDIT_SCAN } from '../../../src/server/resources-audit.js';
import { bodyOf, eventually, manifestFor, startTestGateway, unexpectedLogs, type TestGateway } from './gateway-harness.js';

const OPERATOR = 'operator:alice';

async function withGateway(run: (gw: TestGateway) => Promise<void>, overrides = {}): Promise<void> {
  const gw = await startTestGateway(overrides);
  try {
    await run(gw);
    assert.equal(unexpectedLogs(gw.logs), [], 'no unexpected warn or error log lines');
  } finally {
    await gw.close();
  }
}

test('denials and a rollout are audited; an operator reads them newest first; a node gets 4.03, itself audited', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const n1 = await gw.client('node:n1');
  assert.is((await gw.request(operator, 'POST', '/updates', manifestFor('u1', ['n1']))).code, ResponseCode.Created);
  assert.is((await gw.request(operator, 'DELETE', '/updates/u1')).code, ResponseCode.Deleted);
  assert.is((await gw.request(n1, 'POST', '/updates', manifestFor('u2', ['n1']))).code, ResponseCode.Forbidden);
  const refused = await gw.request(n1, 'GET', '/audit');
  assert.is(refused.code, ResponseCode.Forbidden, 'the audit log is for operators');
  await eventually(() => gw.gateway.store.recentAudit(10).filter((entry) => entry.action === 'access.denied').length === 2);

  const response = await gw.request(operator, 'GET', '/audit');
  assert.is(response.code, ResponseCode.Content);
  assert.is(response.contentFormat, ContentFormat.Json);
  const page = bodyOf<AuditPage>(response);
  assert.is(page.next, null);
  assert.equal(page.entries.map((entry) => [entry.who, entry.action, entry.target]), [
    ['node:n1', 'access.denied', '/audit'],
    ['node:n1', 'access.denied', '/updates'],
    [OPERATOR, 'update.cancel', '/updates/u1'],
    [OPERATOR, 'update.create', '/updates/u1'],
  ]);
  assert.match(page.entries[0]!.detail!, 'GET 4.03');
  const keys = page.entries.map((entry) => entry.key);
  assert.equal(keys, [...keys].sort((a, b) => b - a), 'newest first: keys descending');
}));

test('anonymous callers get 4.01; `local` on loopback reads like an operator', async () => {
  await withGateway(async (gw) => {
    assert.is((await gw.request(await gw.client(), 'GET', '/audit')).code, ResponseCode.Unauthorized);
  }, { allow_local_plain: false });
  await withGateway(async (gw) => {
    assert.is((await gw.request(await gw.client(), 'GET', '/audit')).code, ResponseCode.Content);
  });
});

test('filters: who exact, action prefix, since RFC 3339; pages walk every entry exactly once', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const { store } = gw.gateway;
  for (let i = 0; i < 250; i++) {
    const minute = String(i % 60).padStart(2, '0');
    await store.audit({ at: `2026-01-0${1 + (i % 3)}T10:${minute}:00.000Z`, who: i % 2 === 0 ? 'operator:bob' : 'node:n7', action: i % 5 === 0 ? 'node.offline' : 'update.create', target: `/x/${i}` });
  }
  const read = async (query: string[], accept?: number): Promise<AuditPage> => {
    const response = await gw.request(operator, 'GET', '/audit', undefined, { query, ...(accept === undefined ? {} : { accept }) });
    assert.is(response.code, ResponseCode.Content, `GET /audit?${query.join('&')}`);
    return bodyOf<AuditPage>(response);
  };
  const walk = async (query: string[], limit: number): Promise<string[]> => {
    const seen: string[] = [];
    let after: number | null | undefined;
    for (let pages = 0; after !== null; pages++) {
      assert.ok(pages < 300, 'the walk ends');
      const page = await read([...query, `limit=${limit}`, ...(after === undefined ? [] : [`after=${after}`])]);
      assert.ok(page.entries.length <= limit);
      seen.push(...page.entries.map((entry) => entry.target));
      after = page.next;
    }
    return seen;
  };
  const all = await walk([], 7);
  assert.is(all.length, 250);
  assert.is(new Set(all).size, 250, 'each entry once');
  assert.is(all[0], '/x/249');
  assert.is(all.at(-1), '/x/0');

  const bob = await walk(['who=operator:bob'], 10);
  assert.is(bob.length, 125);
  assert.ok(bob.every((target) => Number(target.slice(3)) % 2 === 0));
  const offline = await walk(['action=node.'], 9);
  assert.is(offline.length, 50);
  assert.ok(offline.every((target) => Number(target.slice(3)) % 5 === 0));
  assert.is((await walk(['action=update'], 1000)).length, 200, 'a prefix');
  assert.is((await walk(['action=update.cre'], 1000)).length, 200);
  const since = await walk(['since=2026-01-03T00:00:00Z'], 50);
  assert.equal(since.sort(), Array.from({ length: 250 }, (_, i) => i).filter((i) => i % 3 === 2).map((i) => `/x/${i}`).sort());
  assert.is((await walk(['since=2026-01-03T01:00:00+02:00'], 50)).length, since.length, 'an offset is honoured');
  assert.is((await walk(['who=node:n7', 'action=node.', 'since=2026-01-02T00:00:00Z'], 1000)).length,
    Array.from({ length: 250 }, (_, i) => i).filter((i) => i % 2 === 1 && i % 5 === 0 && i % 3 !== 0).length);

  // CBOR on request (Accept 60), and a large page goes Block2 and comes back whole.
  const cbor = await gw.request(operator, 'GET', '/audit', undefined, { query: ['limit=1000'], accept: ContentFormat.Cbor });
  assert.is(cbor.contentFormat, ContentFormat.Cbor);
  assert.ok(cbor.payload.length > 1024, 'more than one block');
  const decoded = decodeCbor(cbor.payload) as unknown as AuditPage;
  assert.is(decoded.entries.length, 250);
  assert.is(decoded.entries[0]!.target, '/x/249');
}));

test('a page is bounded by bytes, and a filter that matches little by the entries it examines', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const { store } = gw.gateway;
  const detail = 'd'.repeat(1000);
  await store.atomically((writer) => { for (let i = 0; i < 200; i++) writer.audit({ at: '2026-01-01T00:00:00Z', who: 'gateway', action: 'test.big', target: `/b/${i}`, detail }); });
  const big = bodyOf<AuditPage>(await gw.request(operator, 'GET', '/audit', undefined, { query: ['limit=1000'] }));
  assert.ok(big.entries.length < 200 && big.entries.length > 10, `about 64 KiB: ${big.entries.length} entries`);
  assert.is(big.next, big.entries.at(-1)!.key);

  await store.atomically((writer) => { for (let i = 0; i < MAX_AUDIT_SCAN + 5; i++) writer.audit({ at: '2026-01-01T00:00:00Z', who: 'gateway', action: 'test.small', target: '/s' }); });
  const first = bodyOf<AuditPage>(await gw.request(operator, 'GET', '/audit', undefined, { query: ['action=test.big', 'limit=5'] }));
  assert.equal(first.entries, [], 'nothing matching among the newest MAX_AUDIT_SCAN');
  assert.type(first.next, 'number');
  const second = bodyOf<AuditPage>(await gw.request(operator, 'GET', '/audit', undefined, { query: ['action=test.big', 'limit=5', `after=${first.next}`] }));
  assert.equal(second.entries.map((entry) => entry.target), ['/b/199', '/b/198', '/b/197', '/b/196', '/b/195']);
}, { audit_max_entries: 20_000 }));

test('bad query values are 4.00 naming the problem', () => withGateway(async (gw) => {
  const operator = await gw.client(OPERATOR);
  const cases: [string, string][] = [
    ['limit=0', 'limit: 1..1000'], ['limit=1001', 'limit: 1..1000'], ['limit=x', 'limit: 1..1000'],
    ['after=-3', 'after: an entry key'], ['after=abc', 'after: an entry key'],
    ['since=yesterday', 'since: an RFC 3339 date-time'], ['since=2026-13-45T00:00:00Z', 'since: an RFC 3339 date-time'],
    ['who=', 'who: empty'], ['action=', 'action: empty'], ['colour=red', 'unknown argument "colour=red"'],
  ];
  for (const [query, problem] of cases) {
    const response = await gw.request(operator, 'GET', '/audit', undefined, { query: [query] });
    assert.is(response.code, ResponseCode.BadRequest, query);
    assert.match(response.payload.toString(), problem, query);
  }
}));

test.run();
