// Signed commands and the gateway's access table with real processes over DTLS on
// loopback (issue 11, DESIGN §6). A unit restart sent through the gateway unsigned, with a
// bad signature, expired, replayed or signed for another node is refused by the agent with
// 4.01 or 4.03 and its reason, which comes back through the gateway untouched; the gateway
// audits each forward with the agent's code, the agent audits each verdict (its log and
// its LMDB audit); the good one runs exactly once. A node reads no node's logs, not even
// its own, and calls no /system resource; Proxy-Uri reaches registered nodes only.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { agentPaths } from '../../src/agent/agent.js';
import type { CommandAuditEntry } from '../../src/agent/command-audit.js';
import { AgentStore } from '../../src/agent/store.js';
import type { CommandEnvelope } from '../../src/fleet/command-envelope.js';
import type { AuditPage } from '../../src/fleet/views.js';
import type { GatewayClient } from '../../src/operator/gateway-client.js';
import { signCommandFor } from '../../src/operator/sign-command.js';
import { formatCode, Method } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { OptionNumber, stringOption } from '../../src/protocol/options.js';
import { request, withFleet, type Fleet } from '../helpers/fleet.js';
import { commandPrivateKey, startRemoteNode, unitState } from '../helpers/remote-node.js';

const NODES = ['node-1', 'node-2'];
const UNIT = 'demo-app.service';
const SERVICE_PATH = `/nodes/node-1/services/${UNIT}`;

const answer = async (client: GatewayClient, method: keyof typeof Method, path: string, body?: unknown): Promise<{ code: string; text: string }> => {
  const response = await request(client, method, path, body);
  return { code: formatCode(response.code), text: response.payload.toString('utf8') };
};

const sign = (fleet: Fleet, nodeId: string, options: { now?: number; ttlSeconds?: number } = {}): Promise<CommandEnvelope> =>
  signCommandFor({ nodeId, action: 'service.restart', args: { name: UNIT }, signingKeyPath: commandPrivateKey(fleet), ...options });

test('signed commands through the gateway: unsigned, bad signature, expired, replayed, other node refused with the agent\'s reason and audited on both sides; the good one runs once', async () => {
  await withFleet({ name: 'remote-commands', nodeIds: NODES }, async (fleet) => {
    await fleet.startGateway();
    const node1 = await startRemoteNode(fleet, 'node-1');
    await startRemoteNode(fleet, 'node-2');
    await fleet.waitForNodes(NODES, 30_000);
    const operator = await fleet.operator();

    const good = await sign(fleet, 'node-1');
    const { signature: _dropped, ...unsigned } = await sign(fleet, 'node-1');
    const tampered = { ...(await sign(fleet, 'node-1')), args: { name: 'demo-worker.service' } };
    const expired = await sign(fleet, 'node-1', { now: Date.now() - 3_600_000, ttlSeconds: 60 });
    const forNode2 = await sign(fleet, 'node-2');
    const cases = [
      ['unsigned', unsigned, '4.01', /^unsigned: /],
      ['bad signature', tampered, '4.01', /^bad-signature: /],
      ['expired', expired, '4.03', /^expired: /],
      ['good', good, '2.04', /"action":"service\.restart"/],
      ['replayed', good, '4.03', /^replayed: /],
      ['other node', forNode2, '4.03', /^other-node: the command is for node-2, this is node-1/],
    ] as const;
    for (const [name, envelope, code, text] of cases) {
      const result = await answer(operator, 'POST', SERVICE_PATH, envelope);
      assert.is(result.code, code, `${name}: ${result.code} ${result.text}`);
      assert.match(result.text, text, `${name}: ${result.text}`);
    }

    // The good one ran once: the script counted one restart and logged one.
    assert.is(unitState(node1, UNIT)?.restarts, 1, 'one restart of the unit');
    assert.is(readFileSync(node1.logFile, 'utf8').split('\n').filter((line) => line.endsWith(`${UNIT} restarted`)).length, 1);
    const services = JSON.parse((await answer(operator, 'GET', '/nodes/node-1/services')).text) as { services: { name: string; restarts: number }[] };
    assert.is(services.services.find((service) => service.name === UNIT)?.restarts, 1, JSON.stringify(services));

    // The gateway's audit: each forward with the agent's code (newest first).
    const forwards = await fleet.until('six forwards in the gateway\'s audit', async () => {
      const page = JSON.parse((await answer(operator, 'GET', '/audit?action=node.forward')).text) as AuditPage;
      const mine = page.entries.filter((entry) => entry.target === SERVICE_PATH);
      return mine.length >= cases.length ? mine : undefined;
    }, 30_000);
    assert.equal(forwards.map((entry) => entry.detail).reverse(), [
      'POST service.restart: 4.01 Unauthorized', 'POST service.restart: 4.01 Unauthorized', 'POST service.restart: 4.03 Forbidden',
      'POST service.restart: 2.04 Changed', 'POST service.restart: 4.03 Forbidden', 'POST service.restart: 4.03 Forbidden',
    ]);
    assert.ok(forwards.every((entry) => entry.who === 'operator:admin'), JSON.stringify(forwards));

    // The agent's audit: its log lines now, its LMDB entries once it has stopped.
    const verdicts = fleet.agent('node-1').entries().filter((entry) => entry.msg === 'command refused' || entry.msg === 'command accepted')
      .map((entry) => `${String(entry.msg)} ${String(entry.reason ?? '').split(':')[0]}`.trim());
    assert.equal(verdicts, ['command refused unsigned', 'command refused bad-signature', 'command refused expired', 'command accepted', 'command refused replayed', 'command refused other-node']);
    assert.equal(fleet.agent('node-2').entries().filter((entry) => String(entry.msg).startsWith('command ')).map((entry) => entry.msg), [], 'node-2 heard nothing');
    await fleet.agent('node-1').stop();
    const store = AgentStore.open(agentPaths(fleet.agentDataDir('node-1')).state);
    try {
      const kept = [...store.section('audit/').entries()].map(({ value }) => value as CommandAuditEntry);
      assert.equal(kept.map((entry) => [entry.outcome, entry.action, entry.resource, entry.reason?.split(':')[0] ?? null]), [
        ['refused', 'service.restart', `POST /services/${UNIT}`, 'unsigned'],
        ['refused', 'service.restart', `POST /services/${UNIT}`, 'bad-signature'],
        ['refused', 'service.restart', `POST /services/${UNIT}`, 'expired'],
        ['accepted', 'service.restart', `POST /services/${UNIT}`, null],
        ['refused', 'service.restart', `POST /services/${UNIT}`, 'replayed'],
        ['refused', 'service.restart', `POST /services/${UNIT}`, 'other-node'],
      ]);
      assert.is(kept[3]!.nonce, good.nonce);
    } finally {
      await store.close();
    }
    assert.equal(fleet.unexpectedLines([/^command refused$/]), []);
  });
});

test('a node reads no node\'s logs, not even its own, and calls no /system resource; Proxy-Uri reaches registered nodes only', async () => {
  await withFleet({ name: 'remote-authz', nodeIds: NODES }, async (fleet) => {
    await fleet.startGateway();
    await startRemoteNode(fleet, 'node-1');
    await startRemoteNode(fleet, 'node-2');
    await fleet.waitForNodes(NODES, 30_000);
    const operator = await fleet.operator();
    // Signed or not, a node's request for these never reaches an agent.
    const envelope = await signCommandFor({ nodeId: 'node-1', action: 'restart', signingKeyPath: commandPrivateKey(fleet) });
    const node2 = await fleet.asNode('node-2');
    try {
      const denied = [
        ['GET', '/nodes/node-1/logs'], ['GET', '/nodes/node-2/logs'], ['GET', '/nodes/node-1/services'],
        ['GET', '/system/config'], ['PUT', '/system/config'], ['POST', '/system/restart'], ['POST', '/system/shutdown'],
        ['GET', '/nodes/node-2/system/config'], ['PUT', '/nodes/node-1/system/config'], ['POST', '/nodes/node-1/system/restart'],
        ['POST', '/nodes/node-2/system/shutdown'], ['GET', '/audit'],
      ] as const;
      for (const [method, path] of denied) {
        const result = await answer(node2, method, path, method === 'GET' ? undefined : envelope);
        assert.is(result.code, '4.03', `node-2 ${method} ${path}: ${result.code} ${result.text}`);
      }
      const viaProxy = await node2.endpoint.request({ uri: node2.base, accept: ContentFormat.Json, timeoutMs: 15_000, options: [stringOption(OptionNumber.ProxyUri, 'coaps://node-1/logs')] });
      assert.is(formatCode(viaProxy.code), '4.03', `node-2 through Proxy-Uri: ${viaProxy.payload.toString('utf8')}`);

      // Proxy-Uri for the operator: a registered node yes, anything else no.
      const proxied = async (uri: string): Promise<{ code: string; text: string }> => {
        const response = await operator.endpoint.request({ uri: operator.base, accept: ContentFormat.Json, timeoutMs: 15_000, options: [stringOption(OptionNumber.ProxyUri, uri)] });
        return { code: formatCode(response.code), text: response.payload.toString('utf8') };
      };
      const toNode = await proxied('coaps://node-1/services');
      assert.is(toNode.code, '2.05', toNode.text);
      assert.is((JSON.parse(toNode.text) as { node_id: string }).node_id, 'node-1');
      for (const [uri, code, why] of [
        ['coaps://nobody/services', '4.04', 'only registered nodes'], [`coaps://127.0.0.1:${fleet.coapsPort!}/nodes`, '5.05', 'only registered nodes'],
        ['coaps://localhost/system/config', '4.04', 'only registered nodes'], ['http://node-1/services', '5.05', 'only coap and coaps'],
      ] as const) {
        const refused = await proxied(uri);
        assert.is(refused.code, code, `${uri}: ${refused.code} ${refused.text}`);
        assert.match(refused.text, why, `${uri}: ${refused.text}`);
      }
    } finally {
      await node2.close();
    }
    // Nothing reached an agent as a command, and the denials are in the gateway's audit.
    for (const id of NODES) assert.equal(fleet.agent(id).entries().filter((entry) => String(entry.msg).startsWith('command ')), [], id);
    const page = await fleet.until('the denials in the gateway\'s audit', async () => {
      const view = JSON.parse((await answer(operator, 'GET', '/audit?action=access.denied&who=node:node-2')).text) as AuditPage;
      return view.entries.length >= 13 ? view : undefined;
    }, 30_000);
    assert.ok(page.entries.some((entry) => entry.target === '/system/shutdown'), JSON.stringify(page.entries));
    assert.ok(fleet.gateway!.running, 'the gateway still runs');
    assert.equal(fleet.unexpectedLines([/^request denied$/]), []);
  });
});

test.run();
