// The fleet on certificates from its own CA (DESIGN §6, RFC 7252 §9.1.3.3): a real gateway,
// real agents and the operator's CLI with certificates `keys ca init` / `keys issue` made,
// through an intermediate: a full rollout, the authorization matrix by certificate
// subject, and the handshakes that must fail (another CA, expired, no certificate).

import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDtlsEndpoint } from '../../src/dtls/dtls-endpoint.js';
import type { DtlsCredentials } from '../../src/dtls/transport-options.js';
import { initCertificateAuthority, issueFor } from '../../src/operator/certificate-authority.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import type { NodeView } from '../../src/fleet/views.js';
import { runCli } from '../helpers/cli.js';
import { Fleet, request, withFleet, type LogEntry } from '../helpers/fleet.js';

const NODES = ['node-1', 'node-2'];
const health = () => ({ status: 'healthy', cpu_percent: 5, memory_percent: 20, temperature: null, uptime_s: 60, timestamp: new Date().toISOString() });

/** What a request with these credentials comes to: "answered 2.05" or the error's code. */
async function outcome(uri: string, dtls: DtlsCredentials): Promise<string> {
  const client = await createDtlsEndpoint({ role: 'client', ...dtls, host: '127.0.0.1', port: 0 });
  try {
    return await client.request({ uri: `${uri}/updates`, timeoutMs: 10_000 })
      .then((response) => `answered ${response.code}`, (error: { code?: string }) => error.code ?? 'error');
  } finally {
    await client.close();
  }
}

test('on certificates: agents register, the operator\'s CLI publishes and lists, the rollout completes byte for byte; node vs operator vs another node', async () => {
  await withFleet({ name: 'certs', nodeIds: [...NODES, 'node-3'], certificates: true }, async (fleet) => {
    await fleet.startGateway();
    for (const id of NODES) await fleet.startAgent(id);
    await fleet.waitForNodes(NODES, 30_000);
    const operatorFiles = fleet.certificateFiles('operator-admin');
    const cliCredentials = ['--gateway', fleet.gatewayUri, '--cert', operatorFiles.cert, '--key', operatorFiles.key, '--ca', operatorFiles.ca];

    const image = await fleet.image('fw-2.0.0.bin', 256 * 1024);
    const published = await runCli(['publish', '--image', image.path, '--version', '2.0.0', '--targets', NODES.join(','),
      '--signing-key', join(fleet.keysDir, 'publisher.key'), ...cliCredentials], { killAfterMs: 60_000 });
    assert.is(published.status, 0, published.stderr);
    const final = await fleet.watch('fw-2.0.0', 120_000);
    assert.is(final.rollout, 'completed');
    for (const id of NODES) {
      assert.is(final.nodes[id]!.state, 'installed', id);
      assert.is((await fleet.currentSlot(id)).sha256, image.sha256, id);
    }
    const listed = await runCli(['nodes', '--json', ...cliCredentials]);
    assert.is(listed.status, 0, listed.stderr);
    const nodes = (JSON.parse(listed.stdout) as { nodes: NodeView[] }).nodes;
    assert.equal(nodes.map((node) => [node.node_id, node.version]).sort(), NODES.map((id) => [id, '2.0.0']));

    // The matrix, by certificate subject: node-3 (not a target, not registered by an agent)
    // writes its own health only; lists nothing; cannot touch the update.
    const node3 = await fleet.asNode('node-3');
    const operator = await fleet.operator();
    try {
      assert.is((await request(node3, 'POST', '/nodes', { node_id: 'node-3', version: '1.0.0', hardware: 'e2e', agent_port: 0 })).code, ResponseCode.Created);
      assert.is((await request(node3, 'POST', '/nodes', { node_id: 'node-1', version: '1.0.0', hardware: 'e2e', agent_port: 0 })).code, ResponseCode.Forbidden);
      assert.is((await request(node3, 'PUT', '/nodes/node-3/health', health())).code, ResponseCode.Changed);
      assert.is((await request(node3, 'PUT', '/nodes/node-1/health', health())).code, ResponseCode.Forbidden);
      assert.is((await request(node3, 'GET', '/nodes')).code, ResponseCode.Forbidden);
      assert.is((await request(node3, 'PUT', '/updates/fw-2.0.0/status', { state: 'installed', progress: 1, error: null })).code, ResponseCode.Forbidden);
      assert.is((await request(node3, 'DELETE', '/updates/fw-2.0.0')).code, ResponseCode.Forbidden);
      assert.is((await request(operator, 'GET', '/nodes')).code, ResponseCode.Content);
      assert.is((await request(operator, 'GET', '/nodes/node-3/health')).code, ResponseCode.Content);
    } finally {
      await node3.close();
    }
    const denied = fleet.gateway!.entries().filter((entry) => entry.msg === 'request denied');
    assert.ok(denied.some((entry) => entry.who === 'node:node-3' && entry.path === '/nodes/node-1/health' && entry.code === '4.03'), JSON.stringify(denied));
    assert.equal(fleet.unexpectedLines([/^request denied$/]), []);
  });
});

test('at the handshake: a certificate from another CA, an expired one, and none at all get no session; a good one does', async () => {
  await withFleet({ name: 'certs-refused', nodeIds: ['node-1', 'node-2'], certificates: true }, async (fleet) => {
    await fleet.startGateway();
    const otherCa = join(fleet.dir, 'other-ca');
    await initCertificateAuthority(otherCa, { intermediate: false, days: 30, overwrite: false });
    const foreign = await issueFor(otherCa, { kind: 'node', id: 'node-1' }, { days: 30, outDirectory: join(fleet.dir, 'foreign'), overwrite: false });
    const expired = await issueFor(fleet.caDir!, { kind: 'node', id: 'node-2' }, {
      days: 1, outDirectory: join(fleet.dir, 'expired'), overwrite: false,
      validity: { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) },
    });
    const ca = fleet.certificateFiles('node-node-1').ca;
    const good = Fleet.certificateCredentials(fleet.certificateFiles('node-node-1'));
    assert.is(await outcome(fleet.gatewayUri, good), `answered ${ResponseCode.Content}`);
    for (const [what, files] of [['another CA', foreign], ['expired', expired]] as const) {
      const verdict = await outcome(fleet.gatewayUri, Fleet.certificateCredentials({ cert: files.certificateFile, key: files.keyFile, ca }));
      assert.match(verdict, /^DTLS_ERR/, what);
    }
    const anonymous: DtlsCredentials = { mode: 'certificate', certificates: { ca: good.certificates!.ca } };
    assert.match(await outcome(fleet.gatewayUri, anonymous), /^DTLS_ERR/, 'no certificate');
    assert.equal(fleet.unexpectedLines([/^dtls handshake failed$/]), []);
  });
});

test('revocation: by certificate and by subject through the CLI, kept in LMDB across a restart; live sessions end at once, new handshakes are refused, others go on', async () => {
  await withFleet({ name: 'certs-revoked', nodeIds: ['node-1', 'node-2', 'node-3'], certificates: true }, async (fleet) => {
    await fleet.startGateway();
    await fleet.startAgent('node-1');
    await fleet.waitForNodes(['node-1'], 30_000);
    const operatorFiles = fleet.certificateFiles('operator-admin');
    const cli = (...args: string[]) => runCli([...args, '--gateway', fleet.gatewayUri, '--cert', operatorFiles.cert, '--key', operatorFiles.key, '--ca', operatorFiles.ca]);
    // A live session of node-2's (a client of its own) and node-3's, answered before.
    const node2 = await fleet.asNode('node-2');
    const node3 = await fleet.asNode('node-3');
    try {
      for (const client of [node2, node3]) assert.is((await request(client, 'GET', '/nodes/node-1')).code, ResponseCode.Forbidden);
      assert.is((await request(node2, 'POST', '/nodes', { node_id: 'node-2', version: '1.0.0', hardware: 'e2e', agent_port: 0 })).code, ResponseCode.Created);

      // node-1's certificate by its file: the agent's live session ends at once.
      const byFile = await cli('keys', 'revoke', '--certificate', fleet.certificateFiles('node-node-1').cert, '--reason', 'lost device', '--json');
      assert.is(byFile.status, 0, byFile.stderr);
      const first = JSON.parse(byFile.stdout) as { revocation: { kind: string }; sessions_ended: number };
      assert.is(first.revocation.kind, 'serial');
      assert.is(first.sessions_ended, 1, 'the agent\'s session');
      // Its reconnection is refused at the handshake, for the revocation.
      await fleet.until('node-1\'s handshake refused as revoked', () => (fleet.gateway!.entries()
        .some((entry) => entry.msg === 'dtls handshake failed' && entry.code === 'DTLS_ERR_CERT_REVOKED') ? true : undefined), 30_000);

      // node-2 by subject: its live session ends, and so would any certificate of node:node-2.
      const bySubject = await cli('keys', 'revoke', '--subject', 'node:node-2', '--json');
      assert.is(bySubject.status, 0, bySubject.stderr);
      assert.is((JSON.parse(bySubject.stdout) as { sessions_ended: number }).sessions_ended, 1);
      const after = await request(node2, 'PUT', '/nodes/node-2/health', health()).then((response) => `answered ${response.code}`, (error: { code?: string }) => error.code ?? 'error');
      assert.match(after, /^DTLS_ERR/, 'node-2\'s next request: its session is gone and a new one refused');
      const reissued = await issueFor(fleet.caDir!, { kind: 'node', id: 'node-2' }, { days: 30, outDirectory: join(fleet.dir, 'reissued'), overwrite: false });
      const ca = operatorFiles.ca;
      assert.match(await outcome(fleet.gatewayUri, Fleet.certificateCredentials({ cert: reissued.certificateFile, key: reissued.keyFile, ca })), /^DTLS_ERR/, 'a new certificate of node:node-2');
      // node-3 untouched.
      assert.is((await request(node3, 'GET', '/nodes/node-1')).code, ResponseCode.Forbidden);
    } finally {
      await Promise.all([node2.close(), node3.close()]);
    }

    // The list survives a restart (LMDB) and is still enforced.
    await fleet.gateway!.stop();
    await fleet.restartGateway();
    const listed = await cli('keys', 'revoked', '--json');
    assert.is(listed.status, 0, listed.stderr);
    const entries = (JSON.parse(listed.stdout) as { revocations: { kind: string; value: string; by: string; reason: string | null }[] }).revocations;
    assert.equal(entries.map((entry) => [entry.kind, entry.by, entry.reason]).sort(), [['serial', 'operator:admin', 'lost device'], ['subject', 'operator:admin', null]]);
    assert.match(await outcome(fleet.gatewayUri, Fleet.certificateCredentials(fleet.certificateFiles('node-node-1'))), /^DTLS_ERR/);
    assert.is(await outcome(fleet.gatewayUri, Fleet.certificateCredentials(fleet.certificateFiles('node-node-3'))), `answered ${ResponseCode.Content}`);
    // A node cannot revoke.
    const asNode = fleet.certificateFiles('node-node-3');
    const refused = await runCli(['keys', 'revoke', '--subject', 'node:node-3', '--gateway', fleet.gatewayUri, '--cert', asNode.cert, '--key', asNode.key, '--ca', asNode.ca]);
    assert.is(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, /4\.03/);
    // The revoked agent keeps trying, and is told why.
    const revokedAgent = (entry: LogEntry): boolean => entry.node_id === 'node-1'
      && (entry.code === 'DTLS_ERR_CERT_REVOKED' || /certificate revoked/.test(String((entry.err as { message?: unknown } | undefined)?.message)));
    assert.equal(fleet.unexpectedLines([/^request denied$/, /^dtls handshake failed$/, revokedAgent]), []);
  });
});

test.run();
