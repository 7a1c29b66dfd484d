// The gateway's /.well-known/core (RFC 6690 §4): every resource listed, the templated ones
// by their pattern with percent-encoded braces (a URI-reference, RFC 3986 §2), each with
// rt, if, ct and obs as it serves; open to anyone, like discovery should be.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayRoute } from '../../../src/fleet/paths.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { parseLinks, type Link } from '../../../src/protocol/link-format.js';
import { startTestGateway } from './gateway-harness.js';

const encoded = (pattern: string): string => pattern.replace(/\{/g, '%7B').replace(/\}/g, '%7D');
const attribute = (link: Link, name: string): string | undefined | null => {
  const found = link.attributes.find((candidate) => candidate.name === name);
  return found === undefined ? null : found.value;
};

test('/.well-known/core lists every gateway resource, templated ones included, with rt, if, ct and obs', async () => {
  const gw = await startTestGateway({ allow_local_plain: false });
  try {
    const anonymous = await gw.client();
    const response = await gw.request(anonymous, 'GET', '/.well-known/core');
    assert.is(response.code, ResponseCode.Content);
    assert.is(response.contentFormat, ContentFormat.LinkFormat);
    const links = parseLinks(response.payload.toString('utf8'));
    const byTarget = new Map(links.map((link) => [link.target, link]));
    const APP = '50 60';
    const expected: [string, string, string, string | null, boolean][] = [
      [GatewayRoute.updates, 'coap-fleet.updates', 'coap-fleet.collection', APP, true],
      [GatewayRoute.update, 'coap-fleet.update', 'coap-fleet.item', APP, true],
      [GatewayRoute.download, 'coap-fleet.update.image', 'coap-fleet.item', '42', false],
      [GatewayRoute.install, 'coap-fleet.update.install', 'coap-fleet.action', null, false],
      [GatewayRoute.status, 'coap-fleet.update.status', 'coap-fleet.item', APP, true],
      [GatewayRoute.nodes, 'coap-fleet.nodes', 'coap-fleet.collection', APP, true],
      [GatewayRoute.node, 'coap-fleet.node', 'coap-fleet.item', APP, true],
      [GatewayRoute.health, 'coap-fleet.node.health', 'coap-fleet.item', APP, true],
      [GatewayRoute.services, 'coap-fleet.node.services', 'coap-fleet.collection', APP, false],
      [GatewayRoute.service, 'coap-fleet.node.service', 'coap-fleet.item', APP, false],
      [GatewayRoute.logs, 'coap-fleet.node.logs', 'coap-fleet.log', APP, true],
      [GatewayRoute.nodeConfig, 'coap-fleet.node.config', 'coap-fleet.item', APP, false],
      [GatewayRoute.nodeRestart, 'coap-fleet.node.restart', 'coap-fleet.action', APP, false],
      [GatewayRoute.nodeShutdown, 'coap-fleet.node.shutdown', 'coap-fleet.action', APP, false],
      [GatewayRoute.audit, 'coap-fleet.audit', 'coap-fleet.log', APP, false],
      [GatewayRoute.alerts, 'coap-fleet.alerts', 'coap-fleet.collection', APP, true],
      [GatewayRoute.alert, 'coap-fleet.alert', 'coap-fleet.item', APP, false],
    ];
    for (const [pattern, rt, iface, ct, obs] of expected) {
      const link = byTarget.get(encoded(pattern));
      assert.ok(link !== undefined, `${pattern} listed as ${encoded(pattern)}`);
      assert.is(attribute(link!, 'rt'), rt, `${pattern} rt`);
      assert.is(attribute(link!, 'if'), iface, `${pattern} if`);
      assert.is(attribute(link!, 'ct'), ct, `${pattern} ct`);
      assert.is(attribute(link!, 'obs') !== null, obs, `${pattern} obs`);
    }
    for (const link of links) {
      assert.ok(!/[{}]/.test(link.target), `${link.target}: no braces in a URI-reference`);
      if (link.target !== '/.well-known/core') assert.ok(attribute(link, 'rt') !== null && attribute(link, 'if') !== null, `${link.target} has rt and if`);
    }
    const filtered = parseLinks((await gw.request(anonymous, 'GET', '/.well-known/core', undefined, { query: ['rt=coap-fleet.audit'] })).payload.toString('utf8'));
    assert.equal(filtered.map((link) => link.target), ['/audit'], 'RFC 6690 §4.1 filter');
  } finally {
    await gw.close();
  }
});

test.run();
