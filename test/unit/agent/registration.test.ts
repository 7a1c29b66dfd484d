// The agent's registration (registration.ts) against a gateway endpoint that is still
// starting: its 5.03 with Max-Age is a wait the gateway asked for, logged as such and kept,
// not a failure (a gateway restarting answers so until its resources are in place).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayLink } from '../../../src/agent/gateway-link.js';
import { Registration } from '../../../src/agent/registration.js';
import type { DaemonLogger } from '../../../src/fleet/logger.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { MemoryNetwork } from '../../../src/protocol/transport-memory.js';
import { VirtualClock } from '../../../src/protocol/virtual-clock.js';
import { settle, until } from '../../helpers/virtual-world.js';

test('a starting gateway\'s 5.03 Max-Age 1: the node waits that second, says so at info, and registers once served', async () => {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const gateway = new Endpoint({ transport: network.transport(), clock, starting: true });
  const agent = new Endpoint({ transport: network.transport(), clock });
  const posts: number[] = [];
  gateway.router.add('/nodes', { handlers: { POST: () => { posts.push(clock.now()); return { code: ResponseCode.Created }; } } });
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, msg: string): void => { lines.push({ level, fields, msg }); };
  const log = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') } as unknown as DaemonLogger;
  const link = new GatewayLink(agent, `coap://127.0.0.1:${gateway.address().port}`, 'node-1', () => {});
  const stop = { requested: false, soft: new AbortController().signal };
  const registration = new Registration({
    gateway: link, stop, clock, log, intervalMs: 60_000,
    registration: () => ({ node_id: 'node-1', version: '1.0.0', hardware: 'test', agent_port: 0 }),
  });
  try {
    const done = registration.register('starting');
    // The first answer comes at once; the gateway then finishes starting.
    await until(clock, 'the first answer', () => lines.length > 0);
    const answeredAt = clock.now();
    gateway.serve();
    assert.ok(await settle(clock, done, 'the registration'));
    assert.equal(lines.map((line) => `${line.level} ${line.msg}`), ['info the gateway asked to wait; registering again then', 'info registered']);
    assert.is(lines[0]!.fields.retry_in_s, 1);
    assert.match(String(lines[0]!.fields.reason), /5\.03.*starting/);
    assert.is(posts.length, 1);
    assert.ok(posts[0]! >= answeredAt + 1000, `registered again ${posts[0]! - answeredAt} ms after the 5.03, not before its Max-Age`);
  } finally {
    await Promise.all([gateway.close(), agent.close()]);
  }
});

test.run();
