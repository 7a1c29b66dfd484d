// The bounded cache with expiry under the message layer's deduplication: entries expire by
// one sweep timer, which is armed only while entries are kept, so an idle endpoint holds
// no timer (a deleted last entry disarms it too).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExpiringCache } from '../../../src/protocol/expiring-cache.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';

test('entries expire by one sweep; deleting the last one disarms it; bounds evict the oldest', () => {
  const clock = new VirtualClock();
  const cache = new ExpiringCache<string>(clock, 8, 1000);
  cache.set('a', 'A', 100);
  cache.set('b', 'B', 200);
  assert.is(clock.pendingTimers, 1, 'one sweep timer for every entry');
  clock.advance(150);
  assert.equal([cache.get('a'), cache.get('b'), cache.size], [undefined, 'B', 1]);
  cache.delete('b');
  assert.equal([cache.size, clock.pendingTimers], [0, 0], 'nothing kept: no timer');

  for (let i = 0; i < 10; i++) cache.set(`k${i}`, String(i), 1000, 10);
  assert.ok(cache.size <= 8, `${cache.size} entries over the bound of 8`);
  assert.is(cache.get('k9'), '9', 'the newest kept');
  assert.is(cache.get('k0'), undefined, 'the oldest evicted');
  clock.advance(1000);
  assert.equal([cache.size, clock.pendingTimers], [0, 0]);
});

test.run();
