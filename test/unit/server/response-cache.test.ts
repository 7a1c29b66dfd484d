// The gateway's cache of forwarded GET responses (RFC 7252 §5.6): fresh for Max-Age on the
// clock it is given (60 s without one, never with 0), answered with the freshness left,
// 2.05 only, bounded in entries and bytes with the least recently used out first, and a
// node's entries dropped together.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { cacheKey, ResponseCache } from '../../../src/server/response-cache.js';

const content = (text: string, maxAge?: number) => ({ code: ResponseCode.Content, payload: Buffer.from(text), ...(maxAge === undefined ? {} : { maxAge }) });

test('fresh for Max-Age (60 s by default), served with the seconds left; 0 and non-2.05 never kept', () => {
  let now = 1_000_000;
  const cache = new ResponseCache(() => now);
  cache.set('a', 'n1', content('A', 10));
  cache.set('b', 'n1', content('B'));
  cache.set('zero', 'n1', content('Z', 0));
  cache.set('error', 'n1', { code: ResponseCode.NotFound, payload: 'no' });
  now += 2500;
  assert.is(cache.get('a')?.maxAge, 7);
  assert.is(cache.get('a')?.payload?.toString(), 'A');
  assert.is(cache.get('zero'), undefined);
  assert.is(cache.get('error'), undefined);
  now += 7500;
  assert.is(cache.get('a'), undefined, 'stale at its Max-Age');
  assert.is(cache.get('b')?.maxAge, 50);
  now += 50_000;
  assert.is(cache.get('b'), undefined, 'stale after the default 60 s');
  assert.is(cache.size, 0);
});

test('bounded in entries and bytes, least recently used out first; a node\'s entries dropped together', () => {
  const cache = new ResponseCache(() => 0, { maxEntries: 3, maxBytes: 100 });
  for (const key of ['k1', 'k2', 'k3']) cache.set(key, 'n1', content(key));
  assert.ok(cache.get('k1') !== undefined, 'k1 used: k2 is now the oldest');
  cache.set('k4', 'n2', content('k4'));
  assert.equal(['k1', 'k2', 'k3', 'k4'].map((key) => cache.get(key) !== undefined), [true, false, true, true]);
  cache.set('big', 'n2', content('x'.repeat(90)));
  assert.ok(cache.bytes <= 100, `${cache.bytes} bytes`);
  assert.ok(cache.get('big') !== undefined, 'the newest stays');
  cache.set('huge', 'n2', content('x'.repeat(200)));
  assert.is(cache.get('huge'), undefined, 'larger than the whole cache: not kept');
  cache.set('k5', 'n1', content('k5'));
  cache.dropNode('n2');
  assert.equal([cache.get('big') !== undefined, cache.get('k5') !== undefined], [false, true]);
  assert.is.not(cacheKey('n1', '/logs', ['a=1'], 60), cacheKey('n1', '/logs', ['a=1'], 50), 'Accept is part of the key');
});

test.run();
