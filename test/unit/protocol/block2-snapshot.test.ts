// A GET representation that goes out block-wise is rendered once: the follow-up blocks
// slice the representation block 0 came from (RFC 7959 §2.4: one consistent
// representation), a new GET for block 0 renders afresh, and each peer has its own, which
// neither a crowd of other peers nor one peer reading many resources pushes out.
// On the virtual clock over the in-memory link, with a seeded lossy link for the last.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockOption } from '../../../src/protocol/block.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { OptionNumber } from '../../../src/protocol/options.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { lossyWorld, settle } from '../../helpers/virtual-world.js';

/** A rendered (not file-backed) representation of `size` bytes that names its version. */
function representation(version: number, size: number): Buffer {
  const text = `version ${version};`;
  return Buffer.from(text.repeat(Math.ceil(size / text.length)).slice(0, size));
}

function world(options: { changesOnEveryRender?: boolean } = {}) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const server = new Endpoint({ transport: network.transport(), clock });
  const clients = [new Endpoint({ transport: network.transport(), clock }), new Endpoint({ transport: network.transport(), clock })];
  let version = 1;
  let renders = 0;
  server.router.add('/list', {
    observable: true,
    handlers: {
      GET: () => {
        renders++;
        const payload = representation(version, 20_000);
        if (options.changesOnEveryRender === true) version++;
        return { code: ResponseCode.Content, payload };
      },
    },
  });
  return {
    clock, network, server, clients,
    get renders() { return renders; },
    bump: () => { version++; },
    close: () => Promise.all([server.close(), ...clients.map((client) => client.close())]),
  };
}

test('a 20 KB rendered representation fetched block-wise runs the handler once, not once per block', async () => {
  const w = world();
  try {
    const response = await settle(w.clock, w.clients[0]!.request({ peer: w.server.address(), path: '/list' }), 'the whole list');
    assert.is(response.payload.length, 20_000);
    assert.ok(response.payload.equals(representation(1, 20_000)));
    assert.is(w.renders, 1, 'follow-up blocks came from the representation of block 0');
  } finally {
    await w.close();
  }
});

test('a change between two GETs is seen by the second; mid-transfer the first stays one consistent representation', async () => {
  const w = world();
  try {
    const peer = w.server.address();
    const block0 = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: [blockOption(OptionNumber.Block2, { num: 0, moreBlocks: false, sizeExponent: 6 })] }), 'block 0');
    assert.ok(block0.payload.equals(representation(1, 20_000)));
    w.bump();
    const block3 = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: [blockOption(OptionNumber.Block2, { num: 3, moreBlocks: false, sizeExponent: 6 })] }), 'block 3');
    assert.ok(block3.payload.subarray(0, 1024).equals(representation(1, 20_000).subarray(3072, 4096)), 'block 3 of the representation block 0 came from');
    const again = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list' }), 'a new GET');
    assert.ok(again.payload.equals(representation(2, 20_000)), 'a new GET renders afresh');
  } finally {
    await w.close();
  }
});

test('an observed representation that changes on every render arrives whole and consistent: the registration\'s and each notification\'s other blocks slice the block 0 sent, under its ETag', async () => {
  const w = world({ changesOnEveryRender: true });
  try {
    const { observation, first } = await settle(w.clock, w.clients[0]!.observe({ peer: w.server.address(), path: '/list' }), 'the registration');
    assert.ok(first.payload.equals(representation(1, 20_000)), 'the registration\'s representation, not block 0 of one version joined to the rest of the next');
    assert.ok(first.options.some((option) => option.number === OptionNumber.ETag), 'an ETag the client can check each block against');
    w.server.notify('/list');
    const next = await settle(w.clock, observation[Symbol.asyncIterator]().next(), 'the notification');
    assert.ok(next.value!.payload.equals(representation(2, 20_000)), 'the notification\'s representation, whole');
    assert.is(w.renders, 2, 'one render per registration and per notification');
    observation.forget();
  } finally {
    await w.close();
  }
});

test('another peer asking for a later block gets its own rendering, not the first peer\'s', async () => {
  const w = world();
  try {
    const peer = w.server.address();
    await settle(w.clock, w.clients[0]!.request({ peer, path: '/list' }), 'peer 1');
    w.bump();
    const other = await settle(w.clock, w.clients[1]!.request({ peer, path: '/list', options: [blockOption(OptionNumber.Block2, { num: 2, moreBlocks: false, sizeExponent: 6 })] }), 'peer 2, block 2');
    assert.ok(other.payload.subarray(0, 1024).equals(representation(2, 20_000).subarray(2048, 3072)));
  } finally {
    await w.close();
  }
});

const block = (num: number) => [blockOption(OptionNumber.Block2, { num, moreBlocks: false, sizeExponent: 6 })];

test('300 other peers reading the resource meanwhile (a fleet reading one manifest) do not push out a peer\'s snapshot mid-transfer', async () => {
  const w = world({ changesOnEveryRender: true });
  const crowd = Array.from({ length: 300 }, () => new Endpoint({ transport: w.network.transport(), clock: w.clock }));
  try {
    const peer = w.server.address();
    const first = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: block(0) }), 'block 0');
    assert.ok(first.payload.equals(representation(1, 20_000)));
    await settle(w.clock, Promise.all(crowd.map((client) => client.request({ peer, path: '/list', options: block(0) }))), 'the crowd\'s block 0');
    assert.is(w.renders, 301, 'each block 0 rendered afresh');
    const later = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: block(12) }), 'block 12');
    assert.ok(later.payload.subarray(0, 1024).equals(representation(1, 20_000).subarray(12 * 1024, 13 * 1024)), 'block 12 of the representation block 0 came from');
    assert.is(w.renders, 301, 'not rendered again');
  } finally {
    await Promise.all(crowd.map((client) => client.close()));
    await w.close();
  }
});

test('one peer reading many resources block-wise pushes out only its own oldest snapshot', async () => {
  const w = world();
  try {
    const peer = w.server.address();
    for (let index = 0; index < 8; index++) {
      w.server.router.add(`/other/${index}`, { handlers: { GET: () => ({ code: ResponseCode.Content, payload: representation(100 + index, 5000) }) } });
    }
    await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: block(0) }), 'peer 1, block 0');
    await settle(w.clock, w.clients[1]!.request({ peer, path: '/list', options: block(0) }), 'peer 2, block 0');
    for (let index = 0; index < 8; index++) {
      await settle(w.clock, w.clients[1]!.request({ peer, path: `/other/${index}`, options: block(0) }), `peer 2, /other/${index}`);
    }
    w.bump();
    const kept = await settle(w.clock, w.clients[0]!.request({ peer, path: '/list', options: block(5) }), 'peer 1, block 5');
    assert.ok(kept.payload.subarray(0, 1024).equals(representation(1, 20_000).subarray(5 * 1024, 6 * 1024)), 'peer 1 still reads the version its block 0 came from');
    const renders = w.renders;
    const pushedOut = await settle(w.clock, w.clients[1]!.request({ peer, path: '/list', options: block(5) }), 'peer 2, block 5');
    assert.is(w.renders, renders + 1, 'peer 2\'s own oldest snapshot went: rendered again');
    assert.ok(pushedOut.payload.subarray(0, 1024).equals(representation(2, 20_000).subarray(5 * 1024, 6 * 1024)));
  } finally {
    await w.close();
  }
});

test('through 20 % loss and duplication the representation still arrives whole, rendered once per block 0', async () => {
  let renders = 0;
  const body = representation(7, 50_000);
  const world = lossyWorld(3, { loss: 0.2, duplication: 0.1 });
  try {
    world.server.router.add('/list', { handlers: { GET: () => { renders++; return { code: ResponseCode.Content, payload: body }; } } });
    const response = await settle(world.clock, world.client.request({ peer: world.server.address(), path: '/list' }), 'the whole list', 3_600_000);
    assert.ok(response.payload.equals(body));
    assert.ok(renders <= 3, `${renders} renders for ${Math.ceil(body.length / 1024)} blocks (block 0 retransmitted at most)`);
  } finally {
    await world.close();
  }
});

test.run();
