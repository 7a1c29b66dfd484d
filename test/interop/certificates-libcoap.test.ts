// libcoap's OpenSSL client against our gateway on certificates from the fleet CA (issue 16):
// with the operator's issued certificate (its chain through the intermediate) it reads
// /nodes; with a node's it is refused 4.03 by the same authorization table; with one from
// another CA it gets no session.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { initCertificateAuthority, issueFor } from '../../src/operator/certificate-authority.js';
import { withFleet } from '../helpers/fleet.js';

const CLIENT = 'coap-client-openssl';
const EXEC_TIMEOUT_MS = 40_000;
const run = promisify(execFile);

/** coap-client's run, failed or not: its exit code and what it printed. */
async function coapClient(args: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(CLIENT, ['-B', '10', ...args], { timeout: EXEC_TIMEOUT_MS, encoding: 'utf8' });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${CLIENT} is not installed: apt-get install libcoap3-bin`);
    const { code, stdout, stderr } = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof code === 'number' ? code : -1, output: (stdout ?? '') + (stderr ?? '') };
  }
}

test('coap-client-openssl with an issued operator certificate reads /nodes; a node\'s gets 4.03; another CA\'s no session', async () => {
  await withFleet({ name: 'interop-certs', nodeIds: ['node-1'], certificates: true }, async (fleet) => {
    await fleet.startGateway();
    await fleet.startAgent('node-1');
    await fleet.waitForNodes(['node-1'], 30_000);
    const uri = `${fleet.gatewayUri}/nodes`;
    const as = (files: { cert: string; key: string; ca: string }): string[] => ['-c', files.cert, '-j', files.key, '-C', files.ca, '-A', '50'];

    const operator = await coapClient([...as(fleet.certificateFiles('operator-admin')), uri]);
    assert.is(operator.code, 0, operator.output);
    const listed = JSON.parse(operator.output.slice(operator.output.indexOf('{'))) as { nodes: { node_id: string }[] };
    assert.equal(listed.nodes.map((node) => node.node_id), ['node-1']);

    const node = await coapClient([...as(fleet.certificateFiles('node-node-1')), uri]);
    assert.match(node.output, /4\.03/);

    const otherCa = join(fleet.dir, 'other-ca');
    await initCertificateAuthority(otherCa, { intermediate: false, days: 30, overwrite: false });
    const foreign = await issueFor(otherCa, { kind: 'operator', name: 'admin' }, { days: 30, outDirectory: otherCa, overwrite: false });
    const refused = await coapClient([...as({ cert: foreign.certificateFile, key: foreign.keyFile, ca: fleet.certificateFiles('gateway').ca }), uri]);
    assert.not.match(refused.output, /node-1/);
    assert.equal(fleet.unexpectedLines([/^request denied$/, /^dtls handshake failed$/]), []);
  });
});

test.run();
