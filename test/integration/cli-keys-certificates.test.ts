// `coap-fleet keys ca init` and `keys issue` as processes: the files and what they print,
// and the usage errors (exit status 2) for what does not fit together.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCertificate } from '../../src/fleet/certificates.js';
import { runCli } from '../helpers/cli.js';

let dir: string;
test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'coap-fleet-cli-ca-')); });
test.after(async () => { await rm(dir, { recursive: true, force: true }); });

test('ca init then issue for a node, an operator and the gateway; again without --force is a usage error', async () => {
  const ca = join(dir, 'ca');
  const init = await runCli(['keys', 'ca', 'init', '--ca-dir', ca, '--intermediate', '--days', '10', '--json']);
  assert.is(init.status, 0, init.stderr);
  assert.is((JSON.parse(init.stdout) as { files: string[] }).files.length, 5);
  const issued = await runCli(['keys', 'issue', '--ca-dir', ca, '--node', 'n1', '--out', join(dir, 'out'), '--days', '7', '--json']);
  assert.is(issued.status, 0, issued.stderr);
  const summary = JSON.parse(issued.stdout) as { certificate_file: string; subject: string; serial: string; not_after: string };
  assert.is(summary.subject, 'CN=node:n1, O=coap-fleet');
  assert.is(readCertificate(await readFile(summary.certificate_file)).serial, summary.serial);
  const gateway = await runCli(['keys', 'issue', '--ca-dir', ca, '--gateway', 'gw.example,127.0.0.1']);
  assert.is(gateway.status, 0, gateway.stderr);
  assert.match(gateway.stdout, /subject CN=gw\.example, O=coap-fleet/);

  const again = await runCli(['keys', 'issue', '--ca-dir', ca, '--node', 'n1', '--out', join(dir, 'out')]);
  assert.is(again.status, 2);
  assert.match(again.stderr, /--force/);
  const both = await runCli(['keys', 'issue', '--ca-dir', ca, '--node', 'n2', '--operator', 'alice']);
  assert.is(both.status, 2);
  const badId = await runCli(['keys', 'issue', '--ca-dir', ca, '--node', 'a/b']);
  assert.is(badId.status, 2);
  const noCa = await runCli(['keys', 'issue', '--ca-dir', join(dir, 'missing'), '--node', 'n3']);
  assert.not.equal(noCa.status, 0);
  assert.match(noCa.stderr, /cannot read ca\.crt|cannot read/);
});

test.run();
