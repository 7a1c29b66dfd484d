// Enrollment over CoAPS (RFC 9148; DESIGN §6) with a real gateway and real agents: a node
// with a single-use, expiring bootstrap PSK and no certificate gets one from /sen, keeps
// key (0600) and certificate, runs on them, and re-enrolls (/sren) before they expire
// without going offline; the bootstrap credential works once, not after it expires, and
// not for another node; a request for another subject is refused.

import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCredentialsFile } from '../../src/fleet/credentials-file.js';
import { readCertificate } from '../../src/fleet/certificates.js';
import { enroll } from '../../src/agent/enrollment.js';
import type { EnrollmentSettings } from '../../src/agent/config.js';
import { EnrollmentRefusedError } from '../../src/agent/errors.js';
import { runCli } from '../helpers/cli.js';
import { until, withFleet, type Fleet } from '../helpers/fleet.js';

/** Enrollment settings as the agent's config makes them, for a direct /sen attempt. */
async function settingsFor(fleet: Fleet, bootstrapFile: string, name: string): Promise<EnrollmentSettings> {
  const { identity, key } = await readCredentialsFile(bootstrapFile);
  return {
    bootstrap: { identity, key }, estUri: `coaps://127.0.0.1:${fleet.estPort!}`, certFile: join(fleet.dir, `${name}.crt`), keyFile: join(fleet.dir, `${name}.key`),
    ca: await readFile(fleet.certificateFiles('gateway').ca, 'utf8'), serverName: undefined, reenrollAtPercent: 70,
  };
}

/** What a direct /sen attempt comes to: "enrolled" or the error's code. */
const attempt = (settings: EnrollmentSettings, nodeId: string): Promise<string> =>
  enroll(settings, nodeId, { host: '127.0.0.1', logger: { debug() {}, info() {}, warn() {}, error() {} } as never })
    .then(() => 'enrolled', (error: unknown) => (error instanceof EnrollmentRefusedError ? `refused: ${error.message}` : `error: ${(error as Error).message}`));

test('an agent enrolls with its bootstrap PSK, runs on the certificate, re-enrolls before expiry and stays online, reconnecting with the new one', async () => {
  await withFleet({ name: 'enroll', nodeIds: ['node-1'], certificates: true, enrollment: { validityS: 30 } }, async (fleet) => {
    await fleet.startGateway();
    const bootstrap = await fleet.bootstrap('node-1');
    const config = { ...fleet.enrollingAgentConfig('node-1', bootstrap), reenroll_at_percent: 80 };
    await fleet.startAgent('node-1', { config });
    await fleet.waitForNodes(['node-1'], 60_000);
    assert.is((await stat(config.key_file)).mode & 0o777, 0o600);
    const first = await readFile(config.cert_file, 'utf8');
    const firstSummary = readCertificate(first);
    assert.is(firstSummary.subject, 'CN=node:node-1, O=coap-fleet');
    assert.ok(new X509Certificate(first).checkIssued(new X509Certificate(await readFile(join(fleet.caDir!, 'intermediate.crt')))), 'signed by the enrollment CA');

    // The credential is spent: it gets no session any more.
    assert.match(await attempt(await settingsFor(fleet, bootstrap, 'again'), 'node-1'), /^refused: .*used, expired or unknown/);

    // Past 80 % of its validity (an issued certificate starts a minute back: 72 s of 90)
    // the agent re-enrolls over its session; the node never goes offline.
    const renewed = await fleet.until('a renewed certificate', async () => {
      const current = await readFile(config.cert_file, 'utf8').catch(() => first);
      return readCertificate(current).serial !== firstSummary.serial ? current : undefined;
    }, 60_000, 250);
    assert.is(readCertificate(renewed).subject, firstSummary.subject);
    assert.ok((await fleet.nodes()).find((node) => node.node_id === 'node-1')?.online);
    // Once the first certificate has expired, a new handshake must use the renewed one:
    // restart the gateway (every session goes) and see the node come back.
    // X.509 times have whole seconds: past notAfter by a second, every verifier sees it expired.
    const expired = firstSummary.notAfter.getTime() + 1000;
    await until('the first certificate to expire', () => (Date.now() >= expired ? true : undefined), { timeoutMs: expired - Date.now() + 30_000, intervalMs: 100 });
    await fleet.gateway!.stop();
    const since = Date.now();
    await fleet.restartGateway();
    await fleet.waitForRegistrationsSince(['node-1'], since, 60_000);
    const renewals = fleet.agent('node-1').entries().filter((entry) => entry.msg === 'certificate renewed (re-enrolled)');
    assert.ok(renewals.length >= 1);
    assert.equal(fleet.unexpectedLines([/^dtls handshake failed$/, /re-enrollment failed/, (entry) => entry.node_id === 'node-1' && /gateway|session|register|observ/i.test(String(entry.msg))]), []);
  });
});

test('refusals: a used credential, an expired one, one for another node id, a request for another subject; none of them burns a valid credential', async () => {
  await withFleet({ name: 'enroll-refused', nodeIds: ['node-1', 'node-2'], certificates: true, enrollment: {} }, async (fleet) => {
    await fleet.startGateway();
    const expiringFile = await fleet.bootstrap('node-1', 1);
    // The gateway set expires_at 1 s after its clock (this machine's) read the request,
    // before the answer came back: past this instant the credential has expired.
    const expiresAt = Date.now() + 1000;
    const expiring = await settingsFor(fleet, expiringFile, 'expired');
    await until('the credential to expire', () => (Date.now() > expiresAt ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 });
    assert.match(await attempt(expiring, 'node-1'), /^refused: .*used, expired or unknown/, 'expired');

    // node-2's through the CLI, as an operator would.
    const operator = fleet.certificateFiles('operator-admin');
    const bootstrapFile = join(fleet.keysDir, 'bootstrap-node-2.json');
    const made = await runCli(['keys', 'bootstrap', '--node', 'node-2', '--expires', '10m', '--out', bootstrapFile, '--json',
      '--gateway', fleet.gatewayUri, '--cert', operator.cert, '--key', operator.key, '--ca', operator.ca]);
    assert.is(made.status, 0, made.stderr);
    assert.is((JSON.parse(made.stdout) as { identity: string }).identity, 'bootstrap:node-2');
    assert.is((await stat(bootstrapFile)).mode & 0o777, 0o600);
    const node2 = await settingsFor(fleet, bootstrapFile, 'node-2');
    assert.match(await attempt(node2, 'node-3'), /^refused: .*4\.03.*not node:node-2/, 'node-2\'s credential, a request for node:node-3');
    assert.is(await attempt(node2, 'node-2'), 'enrolled', 'the refusal did not spend it');
    assert.match(await attempt(node2, 'node-2'), /^refused: .*used, expired or unknown/, 'used');
    assert.equal(readCertificate(await readFile(node2.certFile, 'utf8')).subject, 'CN=node:node-2, O=coap-fleet');

    // An agent started with a spent credential stops with the reason.
    const spent = { ...fleet.enrollingAgentConfig('node-2', join(fleet.keysDir, 'bootstrap-node-2.json')) };
    const agent = await fleet.startAgent('node-2', { config: spent });
    // (the harness's own wait fails when a daemon exits: this one is meant to)
    await until('the agent to stop', () => (agent.running ? undefined : true), { timeoutMs: 30_000 });
    assert.match(agent.tail(20), /refused the bootstrap credential bootstrap:node-2/);
  });
});

test.run();
