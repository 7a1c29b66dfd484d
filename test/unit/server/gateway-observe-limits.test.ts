// The gateway's Observe bounds against its budget (DESIGN §10: 10,000 nodes per gateway,
// each observing /updates) and against one node's credential (DESIGN §6), run through the
// registry the gateway's endpoints use, with the limits they are given.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method, ResponseCode } from '../../../src/protocol/codes.js';
import { MessageType } from '../../../src/protocol/message.js';
import { MessageLayer } from '../../../src/protocol/message-layer.js';
import { DEFAULT_OBSERVE_LIMITS, ObserveRegistry } from '../../../src/protocol/observe-server.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { SeededRandom } from '../../../src/protocol/seeded-random.js';
import type { CoapRequest } from '../../../src/protocol/server-types.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { GATEWAY_OBSERVE_LIMITS } from '../../../src/server/endpoints.js';

const NODES = 10_000;

function registry(): ObserveRegistry {
  const clock = new VirtualClock();
  const transport = new MemoryNetwork(clock).transport();
  const messageLayer = new MessageLayer({ transport, clock, random: new SeededRandom(1), logger: silentLogger });
  return new ObserveRegistry(messageLayer, clock, silentLogger, { ...DEFAULT_OBSERVE_LIMITS, ...GATEWAY_OBSERVE_LIMITS }, 0);
}

/** GET /updates with Observe = 0 from node `n` at its own port, with `token`. */
function observeUpdates(n: number, token: number, port = 20_000 + (n % 40_000)): CoapRequest {
  const tokenBytes = Buffer.alloc(4);
  tokenBytes.writeUInt32BE(token);
  return {
    method: Method.GET, path: ['updates'], params: {}, query: [], options: [], payload: Buffer.alloc(0),
    contentFormat: undefined, accept: undefined, peer: { address: `10.0.${n >> 8}.${n & 0xff}`, port, identity: `node:n${n}` },
    token: tokenBytes, confirmable: true,
    message: { type: MessageType.CON, code: Method.GET, messageId: 0, token: tokenBytes, options: [], payload: Buffer.alloc(0) },
  };
}

const render = () => Promise.resolve({ code: ResponseCode.Content });

test(`the gateway takes ${NODES} nodes observing /updates`, () => {
  const observers = registry();
  let refused = 0;
  for (let n = 0; n < NODES; n++) if (observers.register(observeUpdates(n, 1), render) === undefined) refused++;
  assert.is(refused, 0);
  assert.is(observers.observers('/updates'), NODES);
  observers.close();
});

test('one node identity gets 8 registrations, whatever its addresses and ports', () => {
  const observers = registry();
  let accepted = 0;
  // One credential from 17 addresses × 60 tokens, as in the report.
  for (let session = 0; session < 17; session++) {
    for (let token = 0; token < 60; token++) {
      const request = observeUpdates(session, token, 30_000 + session);
      const sameIdentity = { ...request, peer: { ...request.peer, identity: 'node:hog' } };
      if (observers.register(sameIdentity, render) !== undefined) accepted++;
    }
  }
  assert.is(accepted, 8);
  assert.ok(observers.register(observeUpdates(1, 1), render) !== undefined, 'another node still registers');
  observers.close();
});

test.run();
