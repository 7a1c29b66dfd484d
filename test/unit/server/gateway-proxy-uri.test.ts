// Proxy-Uri and Proxy-Scheme on the gateway (RFC 7252 §5.7.2; real DTLS on loopback, a
// stand-in agent: forwarding-world.ts): a registered node's URI is served as
// /nodes/{id}/… is (same access table, same cache), any other host is 5.05 with a
// diagnostic, an unregistered node id 4.04; Hop-Limit 1 is 5.08 (RFC 8768); and an
// endpoint without a resolver still answers 5.05 to every proxy request.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { OptionNumber, stringOption, uintOption, type CoapOption } from '../../../src/protocol/options.js';
import { bodyOf, unexpectedLogs } from './gateway-harness.js';
import { forwardingWorld } from './forwarding-world.js';

const proxyUri = (uri: string): CoapOption[] => [stringOption(OptionNumber.ProxyUri, uri)];

test('Proxy-Uri to a registered node is forwarded as /nodes/{id}/… is; other hosts 5.05, unknown nodes 4.04, nodes 4.03', async () => {
  const world = await forwardingWorld();
  try {
    const agent = await world.agent('n1');
    const n2 = await world.agent('n2');
    const alice = await world.client('operator:alice');
    const viaProxy = await world.request(alice, 'GET', '', { options: proxyUri('coaps://n1/services') });
    assert.is(viaProxy.code, ResponseCode.Content);
    assert.equal(bodyOf(viaProxy), { services: [{ name: 'nginx', state: 'active' }] });
    const direct = await world.request(alice, 'GET', '/nodes/n1/services');
    assert.equal(bodyOf(direct), bodyOf(viaProxy));
    assert.is(agent.count('GET /services'), 1, 'the same cache entry');

    const scheme = await world.request(alice, 'GET', '/services/nginx', {
      options: [stringOption(OptionNumber.ProxyScheme, 'coaps'), stringOption(OptionNumber.UriHost, 'N1')],
    });
    assert.is(scheme.code, ResponseCode.Content, 'Proxy-Scheme with Uri-Host, case-insensitive');
    assert.equal(bodyOf(scheme), { name: 'nginx' });

    for (const uri of ['coaps://127.0.0.1/nodes', 'coap://[::1]:5683/services', 'http://n1/services']) {
      const refused = await world.request(alice, 'GET', '', { options: proxyUri(uri) });
      assert.is(refused.code, ResponseCode.ProxyingNotSupported, uri);
    }
    const ip = await world.request(alice, 'GET', '', { options: proxyUri('coaps://127.0.0.1/nodes') });
    assert.match(ip.payload.toString(), 'only registered nodes');
    const noHost = await world.request(alice, 'GET', '/nodes', { options: [stringOption(OptionNumber.ProxyScheme, 'coap')] });
    assert.is(noHost.code, ResponseCode.ProxyingNotSupported, 'Proxy-Scheme without Uri-Host names the gateway itself: not served as a proxy');
    const unknown = await world.request(alice, 'GET', '', { options: proxyUri('coaps://n7/services') });
    assert.is(unknown.code, ResponseCode.NotFound);
    assert.match(unknown.payload.toString(), 'no node n7');

    const denied = await world.request(n2.endpoint, 'GET', '', { options: proxyUri('coaps://n1/services') });
    assert.is(denied.code, ResponseCode.Forbidden, 'the access table applies');
    // Observed through Proxy-Uri and through the path: one upstream observation.
    const viaUri = await alice.observe({ peer: world.coaps, options: proxyUri('coaps://n1/logs'), timeoutMs: 20_000 });
    const viaPath = await alice.observe({ peer: world.coaps, path: '/nodes/n1/logs', timeoutMs: 20_000 });
    assert.equal([viaUri.first.code, viaPath.first.code], [ResponseCode.Content, ResponseCode.Content]);
    assert.is(world.gateway.router.observers('/nodes/n1/logs'), 2);
    assert.is(agent.endpoint.observers('/logs'), 1);
    await viaUri.observation.cancel();
    await viaPath.observation.cancel();

    // Not from the cache: a cached answer forwards nothing, so no hop is spent.
    const hops = await world.request(alice, 'GET', '', { options: [...proxyUri('coaps://n1/system/config'), uintOption(OptionNumber.HopLimit, 1)] });
    assert.is(hops.code, ResponseCode.HopLimitReached);
    assert.equal(unexpectedLogs(world.logs), []);
  } finally {
    await world.close();
  }
});

test('an endpoint with no proxy resolver answers 5.05 to Proxy-Uri and Proxy-Scheme', async () => {
  const server = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  try {
    server.router.add('/x', { handlers: { GET: () => ({ code: ResponseCode.Content }) } });
    const peer = server.address();
    assert.is((await client.request({ peer, path: '/x' })).code, ResponseCode.Content);
    assert.is((await client.request({ peer, options: proxyUri(`coap://127.0.0.1:${peer.port}/x`) })).code, ResponseCode.ProxyingNotSupported);
    assert.is((await client.request({ peer, path: '/x', options: [stringOption(OptionNumber.ProxyScheme, 'coap')] })).code, ResponseCode.ProxyingNotSupported);
  } finally {
    await client.close();
    await server.close();
  }
});

test.run();
