// Authorization by the DTLS identity on the real gateway process (DESIGN §6): a node writes
// only its own entries (health, update status), cannot create updates nor register
// another node; a PSK identity the gateway does not know, or a wrong key, gets no session;
// plain CoAP gets 4.01 when the gateway does not take it as the local administrator, and
// nothing at all on the DTLS port; a manifest the pinned publisher did not sign is refused.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import { DEFAULT_POLICY, signManifest } from '../../src/fleet/manifest.js';
import { Method, ResponseCode } from '../../src/protocol/codes.js';
import { ContentFormat } from '../../src/protocol/content-formats.js';
import { Endpoint } from '../../src/protocol/endpoint.js';
import { request, withFleet } from '../helpers/fleet.js';
import type { StatusView } from '../../src/fleet/views.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const health = () => ({ status: 'healthy', cpu_percent: 5, memory_percent: 20, temperature: null, uptime_s: 60, timestamp: new Date().toISOString() });
const registration = (id: string) => ({ node_id: id, version: '1.0.0', hardware: 'e2e', agent_port: 0 });

test('over DTLS a node writes only its own health and status, cannot POST /updates; unknown identities get no session; plain CoAP gets 4.01 or nothing', async () => {
  await withFleet({ name: 'authz', nodeIds: NODES }, async (fleet) => {
    // Plain CoAP open on loopback but not the local administrator: a request there has no
    // identity at all.
    await fleet.startGateway({ plainPort: 0, env: { COAP_FLEET_SERVER_ALLOW_LOCAL_PLAIN: 'false' } });
    const operator = await fleet.operator();
    const [node1, node2, node3] = await Promise.all(NODES.map((id) => fleet.asNode(id)));
    const plain = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
    try {
      for (const [client, id] of [[node1!, 'node-1'], [node2!, 'node-2']] as const) {
        assert.is((await request(client, 'POST', '/nodes', registration(id))).code, ResponseCode.Created, id);
      }
      assert.is((await request(node1!, 'POST', '/nodes', registration('node-3'))).code, ResponseCode.Forbidden, 'registering another node');

      // Health: its own yes, another node's no.
      assert.is((await request(node1!, 'PUT', '/nodes/node-1/health', health())).code, ResponseCode.Changed);
      assert.is((await request(node1!, 'PUT', '/nodes/node-2/health', health())).code, ResponseCode.Forbidden, 'another node\'s health');
      assert.is((await request(node1!, 'GET', '/nodes')).code, ResponseCode.Forbidden, 'nodes do not list the fleet');

      // Updates: nodes cannot create them, even with a properly signed manifest.
      const image = await fleet.image('fw-2.0.0.bin', 4096);
      const manifest = signManifest({
        update_id: 'fw-2.0.0', version: '2.0.0', size: image.size, checksum: `sha256:${image.sha256}`, target_nodes: ['node-1', 'node-2'], policy: DEFAULT_POLICY,
      }, fleet.publisherPrivateKey);
      assert.is((await request(node1!, 'POST', '/updates', manifest)).code, ResponseCode.Forbidden, 'a node POSTs /updates');
      // The operator can, but not with a manifest another key signed: the gateway pins the
      // publisher key.
      const foreign = signManifest({ ...manifest, update_id: 'fw-foreign' }, generateKeyPairSync('ed25519').privateKey);
      assert.is((await request(operator, 'POST', '/updates', foreign)).code, ResponseCode.BadRequest, 'a foreign signature');
      assert.is((await request(operator, 'POST', '/updates', manifest)).code, ResponseCode.Created);

      // Status: a node writes its own entry only. node-3 is no target; node-1 naming
      // node-2 with ?node= still writes node-1's entry (the identity decides, not the query).
      const report = { state: 'downloading', progress: 0.5, error: null };
      assert.is((await request(node3!, 'PUT', '/updates/fw-2.0.0/status', report)).code, ResponseCode.Forbidden, 'not a target');
      assert.is((await request(node3!, 'PUT', '/updates/fw-2.0.0/status?node=node-1', report)).code, ResponseCode.Forbidden, 'not a target, naming one');
      assert.is((await request(node1!, 'PUT', '/updates/fw-2.0.0/status?node=node-2', report)).code, ResponseCode.Changed);
      const status = JSON.parse((await request(operator, 'GET', '/updates/fw-2.0.0/status')).payload.toString('utf8')) as StatusView;
      assert.is(status.nodes['node-2']!.state, 'pending', 'node-2\'s entry untouched');
      assert.is(status.nodes['node-1']!.state, 'downloading');
      assert.is((await request(node1!, 'PUT', '/updates/fw-2.0.0/download', 'x')).code, ResponseCode.Forbidden, 'a node uploads an image');
      assert.is((await request(node1!, 'DELETE', '/updates/fw-2.0.0')).code, ResponseCode.Forbidden, 'a node cancels');

      // No identity: plain CoAP from loopback is 4.01 when allow_local_plain is false…
      const anonymous = await plain.request({ uri: `coap://127.0.0.1:${fleet.coapPort!}/updates`, accept: ContentFormat.Json, timeoutMs: 10_000 });
      assert.is(anonymous.code, ResponseCode.Unauthorized);
      const anonymousWrite = await plain.request({
        uri: `coap://127.0.0.1:${fleet.coapPort!}/nodes/node-1/health`, method: Method.PUT, payload: JSON.stringify(health()), contentFormat: ContentFormat.Json, timeoutMs: 10_000,
      });
      assert.is(anonymousWrite.code, ResponseCode.Unauthorized);
      // …and plain CoAP sent to the DTLS port gets no answer at all.
      const unanswered = await plain.request({ uri: `coap://127.0.0.1:${fleet.coapsPort!}/updates`, timeoutMs: 3_000 })
        .then((response) => `answered ${response.code}`, (error: { code?: string }) => error.code ?? 'error');
      assert.match(unanswered, /TIMEOUT/);

      // An identity the gateway does not know, and a known one with a wrong key: no session.
      for (const [identity, key] of [['node:intruder', randomBytes(16)], ['node:node-1', randomBytes(16)], ['operator:admin', randomBytes(16)]] as const) {
        const client = await createDtlsEndpoint({ role: 'client', mode: 'psk', psk: { identity, key }, host: '127.0.0.1', port: 0 });
        try {
          const outcome = await client.request({ uri: `${fleet.gatewayUri}/updates`, timeoutMs: 10_000 })
            .then((response) => `answered ${response.code}`, (error: { code?: string }) => error.code ?? 'error');
          assert.match(outcome, /^DTLS_ERR/, identity);
        } finally {
          await client.close();
        }
      }

      // The denials are logged with who asked.
      const denied = fleet.gateway!.entries().filter((entry) => entry.msg === 'request denied');
      const seen = (who: RegExp, path: string, code: string): boolean => denied.some((entry) => who.test(String(entry.who)) && entry.path === path && entry.code === code);
      assert.ok(seen(/^node:node-1$/, '/nodes/node-2/health', '4.03'), JSON.stringify(denied));
      assert.ok(seen(/^node:node-1$/, '/updates', '4.03'));
      assert.ok(seen(/^node:node-3$/, '/updates/fw-2.0.0/status', '4.03'));
      assert.ok(seen(/^anonymous@127\.0\.0\.1:/, '/updates', '4.01'));
    } finally {
      await Promise.all([node1, node2, node3].map((client) => client?.close()));
      await plain.close();
    }
    // The refused handshakes are warned of too (the first from this address in a minute).
    assert.equal(fleet.unexpectedLines([/^request denied$/, /^dtls handshake failed$/]), []);
  });
});

test.run();
