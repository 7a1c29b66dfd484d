// The agent's configuration: file, environment and flags merged in that order of
// precedence, relative paths, every problem named at once, and the key names of earlier
// releases (durations without their unit) still read with a deprecation warning.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { createGatewayEndpoint } from '../../../src/agent/transport.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { overlayPath } from '../../../src/agent/settings-overlay.js';
import { keyId } from '../../../src/fleet/command-envelope.js';
import { AgentConfigError } from '../../../src/agent/errors.js';
import { formatPretty } from '../../../src/fleet/logger.js';
import { makePublisher, tempDir } from './fake-gateway.js';

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof AgentConfigError) return error.problems;
    throw error;
  }
  throw new Error('no AgentConfigError');
}

test('file, then environment, then flags; paths in the file relative to the file; durations in seconds', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    await mkdir(join(temp.path, 'etc'));
    await makePublisher(join(temp.path, 'etc'), 'pub');
    const file = join(temp.path, 'etc', 'agent.json');
    await writeFile(file, JSON.stringify({
      node_id: 'from-file', gateway: 'coap://127.0.0.1:5683', data_dir: '../var', publisher_key: 'pub.pub.pem',
      health_interval_s: 5, install_adapter: 'command', install_command: 'rauc install "$IMAGE_PATH"', initial_version: '1.2.0',
    }));
    const config = loadAgentConfig({
      file, cwd: temp.path,
      env: { COAP_FLEET_AGENT_NODE_ID: 'from-env', COAP_FLEET_AGENT_HEALTH_INTERVAL_S: '7', COAP_FLEET_AGENT_REGISTER_INTERVAL_S: '60' },
      flags: { node_id: 'from-flag' },
    });
    assert.is(config.nodeId, 'from-flag');
    assert.is(config.healthIntervalMs, 7000);
    assert.is(config.registerIntervalMs, 60_000);
    assert.is(config.dataDir, join(temp.path, 'var'));
    assert.is(config.publisherKeyPath, join(temp.path, 'etc', 'pub.pub.pem'));
    assert.is(config.publisherKey.asymmetricKeyType, 'ed25519');
    assert.is(config.installAdapter, 'command');
    assert.is(config.initialVersion, '1.2.0');
    assert.is(config.healthCheckTimeoutMs, 30_000, 'default');
    assert.is(config.dtls, undefined);
    assert.is(config.retransmission, 'cocoa', 'default');
    for (const retransmission of ['cocoa', 'fixed'] as const) {
      const endpoint = await createGatewayEndpoint({ ...config, retransmission, listenHost: '127.0.0.1' }, silentLogger);
      assert.is(endpoint.messageLayer.parameters.congestionControl, retransmission);
      await endpoint.close();
    }
  } finally {
    await temp.remove();
  }
});

test('every problem is named at once: missing, malformed, out of range, inconsistent', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const rsa = join(temp.path, 'rsa.pem');
    await writeFile(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const problems = problemsOf(() => loadAgentConfig({
      flags: {
        node_id: '../etc', gateway: 'http://x', publisher_key: rsa, health_interval_s: '0', install_adapter: 'command',
        log_level: 'loud', listen_port: '70000', initial_version: 'v1',
      },
    }));
    const expected = [
      'node_id (from --node-id) must be 1-64 of', 'gateway (from --gateway) must be coap://HOST:PORT', 'publisher_key: ',
      'health_interval_s (from --health-interval-s) must be seconds from 0.1 to 86400, not "0"', 'install_command: ',
      'log_level (from --log-level) must be one of', 'listen_port (from --listen-port) must be a UDP port', 'initial_version (from --initial-version) must be a version',
    ];
    for (const start of expected) assert.ok(problems.some((problem) => problem.startsWith(start)), `${start} in ${problems.join(' | ')}`);
    assert.is(problems.length, expected.length, problems.join(' | '));

    const missing = problemsOf(() => loadAgentConfig({ flags: {} }));
    assert.equal(missing, [
      'node_id: required (--node-id, COAP_FLEET_AGENT_NODE_ID or "node_id" in the config file)',
      'gateway: required (--gateway, COAP_FLEET_AGENT_GATEWAY or "gateway" in the config file)',
      'publisher_key: required (--publisher-key, COAP_FLEET_AGENT_PUBLISHER_KEY or "publisher_key" in the config file)',
    ]);
  } finally {
    await temp.remove();
  }
});

test('block_transfer: qblock2 by default, block2 on request, anything else refused with what is allowed', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    await makePublisher(temp.path, 'pub');
    const base = { node_id: 'n1', gateway: 'coap://127.0.0.1:5683', data_dir: join(temp.path, 'var'), publisher_key: join(temp.path, 'pub.pub.pem') };
    assert.is(loadAgentConfig({ flags: base }).blockTransfer, 'qblock2');
    assert.is(loadAgentConfig({ flags: { ...base, block_transfer: 'block2' } }).blockTransfer, 'block2');
    assert.is(loadAgentConfig({ flags: base, env: { COAP_FLEET_AGENT_BLOCK_TRANSFER: 'block2' } }).blockTransfer, 'block2');
    const problems = problemsOf(() => loadAgentConfig({ flags: { ...base, block_transfer: 'qblock' } }));
    assert.equal(problems, ['block_transfer (from --block-transfer) must be one of qblock2, block2, not "qblock"']);
  } finally {
    await temp.remove();
  }
});

test('a config file with an unknown key, or not JSON, is refused with its path', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const file = join(temp.path, 'agent.json');
    await writeFile(file, JSON.stringify({ node_id: 'n1', helth_interval_s: 3 }));
    assert.ok(problemsOf(() => loadAgentConfig({ file }))[0]!.startsWith(`unknown setting "helth_interval_s" in ${file}; known: node_id, gateway,`));
    await writeFile(file, '{ node_id: n1 }');
    assert.throws(() => loadAgentConfig({ file }), (error: Error) => error.message.startsWith(`agent configuration: the config file ${file} is not valid JSON`));
    assert.throws(() => loadAgentConfig({ file: join(temp.path, 'missing.json') }), (error: Error) => error.message === `agent configuration: cannot read the config file ${join(temp.path, 'missing.json')}: ENOENT`);
  } finally {
    await temp.remove();
  }
});

test('the key names of earlier releases (durations without _s) work from the file, the environment and flags, with one deprecation warning per setting', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const publisher = await makePublisher(temp.path);
    const file = join(temp.path, 'agent.json');
    await writeFile(file, JSON.stringify({
      node_id: 'n1', gateway: 'coap://127.0.0.1:5683', publisher_key: publisher.publicKeyPath, health_interval: 5, install_max_wait: 60,
    }));
    const warnings: string[] = [];
    const config = loadAgentConfig({
      file, env: { COAP_FLEET_AGENT_INSTALL_TIMEOUT: '20' }, flags: { health_interval: '3', health_check_timeout: '4' },
      onDeprecated: (warning) => warnings.push(warning),
    });
    assert.is(config.healthIntervalMs, 3000, 'the old flag over the old key in the file');
    assert.is(config.installMaxWaitMs, 60_000);
    assert.is(config.installTimeoutMs, 20_000);
    assert.is(config.healthCheckTimeoutMs, 4000);
    assert.equal(warnings.sort(), [
      'config: `COAP_FLEET_AGENT_INSTALL_TIMEOUT` is deprecated, use `COAP_FLEET_AGENT_INSTALL_TIMEOUT_S`',
      'config: `health_interval`, `--health-interval` are deprecated, use `health_interval_s`, `--health-interval-s`',
      'config: `install_max_wait` is deprecated, use `install_max_wait_s`',
      'config: `--health-check-timeout` is deprecated, use `--health-check-timeout-s`',
    ].sort());

    await writeFile(file, JSON.stringify({
      node_id: 'n1', gateway: 'coap://127.0.0.1:5683', publisher_key: publisher.publicKeyPath, health_interval: 5, health_interval_s: 5,
    }));
    assert.equal(problemsOf(() => loadAgentConfig({ file })), ['health_interval_s: `health_interval_s` and `health_interval` are the same setting: keep only `health_interval_s`']);
  } finally {
    await temp.remove();
  }
});

test('the read resources\' settings: defaults; lists as a JSON array in the file and comma-separated in the environment; every problem named', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const publisher = await makePublisher(temp.path);
    const base = { node_id: 'n1', gateway: 'coap://127.0.0.1:5683', publisher_key: publisher.publicKeyPath };
    const defaults = loadAgentConfig({ flags: base });
    assert.is(defaults.metricsIntervalS, 30);
    assert.is(defaults.metricsHistory, 120);
    assert.is(defaults.logSource, 'journald');
    assert.equal(defaults.logFiles, []);
    assert.equal(defaults.allowedUnits, []);
    assert.is(defaults.servicesAdapter, 'systemd');
    assert.is(defaults.servicesCommand, undefined);

    const file = join(temp.path, 'agent.json');
    await writeFile(file, JSON.stringify({
      ...base, log_source: 'files', log_files: ['/var/log/app.log', '/var/log/db.log'], allowed_units: ['app.service', 'db@main.service'],
      metrics_interval_s: 10, metrics_history: 60,
    }));
    const fromFile = loadAgentConfig({ file });
    assert.equal(fromFile.logFiles, ['/var/log/app.log', '/var/log/db.log']);
    assert.equal(fromFile.allowedUnits, ['app.service', 'db@main.service']);
    assert.is(fromFile.metricsIntervalS, 10);
    assert.is(fromFile.metricsHistory, 60);
    const fromEnv = loadAgentConfig({
      file, env: { COAP_FLEET_AGENT_ALLOWED_UNITS: ' nginx.service , ssh.service', COAP_FLEET_AGENT_SERVICES_ADAPTER: 'command' },
      flags: { services_command: 'svc' }, cwd: temp.path,
    });
    assert.equal(fromEnv.allowedUnits, ['nginx.service', 'ssh.service']);
    assert.is(fromEnv.servicesCommand, join(temp.path, 'svc'));

    const problems = problemsOf(() => loadAgentConfig({
      flags: {
        ...base, metrics_interval_s: '0', metrics_history: '1.5', log_source: 'syslog', log_files: 'relative.log',
        allowed_units: 'ok.service,-rf', services_adapter: 'command',
      },
    }));
    const expected = [
      'metrics_interval_s (from --metrics-interval-s) must be seconds from 1 to 86400',
      'metrics_history (from --metrics-history) must be a whole number from 1 to 10000',
      'log_source (from --log-source) must be one of journald, files',
      'log_files (from --log-files) must be absolute paths ("relative.log")',
      'allowed_units (from --allowed-units) must be unit names of letters, digits and @:._-, starting with a letter or digit ("-rf")',
      'services_command: required with services_adapter "command"',
    ];
    for (const start of expected) assert.ok(problems.some((problem) => problem.startsWith(start)), `${start} in ${problems.join(' | ')}`);
    assert.is(problems.length, expected.length, problems.join(' | '));
    assert.equal(problemsOf(() => loadAgentConfig({ flags: { ...base, log_source: 'files' } })), ['log_files: at least one file with log_source "files"']);
    assert.equal(problemsOf(() => loadAgentConfig({ flags: { ...base, services_command: '/bin/svc' } })), ['services_command: only with services_adapter "command"']);
    await writeFile(file, JSON.stringify({ ...base, allowed_units: 'app.service', log_files: [1] }));
    assert.equal(problemsOf(() => loadAgentConfig({ file })), [
      `log_files (from ${file}) must be a list of at most 64 non-empty strings (a JSON array, or comma-separated), not [1]`,
    ], 'one string is a list of one, in the file too');
    await writeFile(file, JSON.stringify({ ...base, allowed_units: Array.from({ length: 257 }, (_, i) => `u${i}.service`) }));
    assert.match(problemsOf(() => loadAgentConfig({ file }))[0]!, /^allowed_units .* must be a list of at most 256/);
  } finally {
    await temp.remove();
  }
});

test('coaps:// needs DTLS credentials: a PSK in hex or keys generate\'s JSON, read and checked at start; PSK and certificates do not mix', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const publisher = await makePublisher(temp.path);
    const base = { node_id: 'n1', publisher_key: publisher.publicKeyPath };
    assert.ok(problemsOf(() => loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw:5684' } })).some((p) => p.startsWith('gateway: coaps:// needs')));
    const pskFile = join(temp.path, 'psk');
    await writeFile(pskFile, '00112233');
    const config = loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw:5684', psk_identity: 'node:n1', psk_key_file: pskFile } });
    assert.equal(config.dtls, { mode: 'psk', identity: 'node:n1', key: Buffer.from('00112233', 'hex') });
    const keysFile = join(temp.path, 'node-n1.json');
    await writeFile(keysFile, JSON.stringify({ identity: 'node:n1', key_hex: '00112233445566778899aabbccddeeff' }));
    const fromKeys = loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw:5684', psk_key_file: keysFile } });
    assert.equal(fromKeys.dtls, { mode: 'psk', identity: 'node:n1', key: Buffer.from('00112233445566778899aabbccddeeff', 'hex') }, 'the identity from keys generate\'s file');
    assert.ok(problemsOf(() => loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw', psk_identity: 'node:n2', psk_key_file: keysFile } }))
      .some((problem) => problem.startsWith('psk_identity: node:n2 differs')));
    await writeFile(keysFile, '{"key_hex": "xyz"}');
    assert.ok(problemsOf(() => loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw', psk_key_file: keysFile } }))
      .some((problem) => problem.includes('1..64 bytes in hex')));
    assert.ok(problemsOf(() => loadAgentConfig({ flags: { ...base, gateway: 'coap://gw', psk_identity: 'node:n1', psk_key_file: pskFile } }))
      .some((problem) => problem.includes('use coaps://')));
    const mixed = problemsOf(() => loadAgentConfig({ flags: { ...base, gateway: 'coaps://gw', psk_identity: 'node:n1', psk_key_file: pskFile, cert_file: pskFile } }));
    assert.ok(mixed.some((problem) => problem.includes('not both')), mixed.join(' | '));
  } finally {
    await temp.remove();
  }
});

test('operator_keys: Ed25519 public keys by key id; an unreadable file, a private key or another algorithm is a problem', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const publisher = await makePublisher(temp.path, 'pub');
    const base = { node_id: 'n1', gateway: 'coap://gw:5683', publisher_key: publisher.publicKeyPath };
    const pair = generateKeyPairSync('ed25519');
    const good = join(temp.path, 'operator-command.pub');
    const second = join(temp.path, 'second.pub');
    await writeFile(good, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(second, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const config = loadAgentConfig({ flags: { ...base, operator_keys: `${good}, ${second}` } });
    assert.equal([...config.operatorKeys.keys()].sort(), [keyId(pair.publicKey), keyId(readFileSync(second, 'utf8'))].sort());
    assert.is(config.restartCommand, 'systemctl reboot');
    assert.is(config.shutdownCommand, 'systemctl poweroff');
    assert.is(config.systemCommandTimeoutMs, 60_000);
    assert.is(loadAgentConfig({ flags: base }).operatorKeys.size, 0, 'none pinned by default');

    const privateKey = join(temp.path, 'operator-command.key');
    const rsa = join(temp.path, 'rsa.pub');
    const garbage = join(temp.path, 'garbage.pub');
    await writeFile(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(garbage, 'not a key');
    const file = join(temp.path, 'agent.json');
    await writeFile(file, JSON.stringify({ ...base, operator_keys: [good, 'missing.pub', 'operator-command.key', 'rsa.pub', 'garbage.pub'] }));
    const problems = problemsOf(() => loadAgentConfig({ file }));
    assert.equal(problems.map((problem) => problem.replace(/ \(.*\)$/, '')), [
      `operator_keys: cannot read ${join(temp.path, 'missing.pub')}: ENOENT`,
      `operator_keys: ${privateKey} is a private key; give the operator's public key (operator-command.pub from keys generate) and keep the private one with the operator`,
      `operator_keys: ${rsa} holds a rsa key, not Ed25519`,
      `operator_keys: ${garbage} is not a PEM public key`,
    ], 'paths in the file are relative to it');
    await writeFile(file, JSON.stringify({ ...base, operator_keys: [good, 42] }));
    assert.equal(problemsOf(() => loadAgentConfig({ file })), [`operator_keys (from ${file}) must be a list of at most 256 file paths (a JSON array, or comma-separated), not ["${good}",42]`]);
  } finally {
    await temp.remove();
  }
});

test('the remote settings overlay in data_dir: above the file, below the environment; a bad or foreign entry is named with its path', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    const publisher = await makePublisher(temp.path, 'pub');
    const file = join(temp.path, 'agent.json');
    const dataDir = join(temp.path, 'data');
    await mkdir(dataDir);
    await writeFile(file, JSON.stringify({ node_id: 'n1', gateway: 'coap://gw:5683', publisher_key: publisher.publicKeyPath, data_dir: dataDir, log_level: 'info', health_interval_s: 5 }));
    await writeFile(overlayPath(dataDir), JSON.stringify({ log_level: 'debug', health_interval_s: 7 }));
    const config = loadAgentConfig({ file, env: { COAP_FLEET_AGENT_HEALTH_INTERVAL_S: '9' } });
    assert.is(config.logLevel, 'debug', 'the overlay outranks the file');
    assert.is(config.healthIntervalMs, 9000, 'the environment outranks the overlay');
    assert.equal(config.lockedSettings, ['health_interval_s']);

    await writeFile(overlayPath(dataDir), JSON.stringify({ log_level: 'loud', data_dir: '/' }));
    assert.equal(problemsOf(() => loadAgentConfig({ file })), [
      `log_level (from ${overlayPath(dataDir)}) must be one of fatal, error, warn, info, debug, trace, silent, not "loud"`,
      `data_dir: not a remote setting, in ${overlayPath(dataDir)}`,
    ]);
    await writeFile(overlayPath(dataDir), '{ torn');
    assert.equal(problemsOf(() => loadAgentConfig({ file })), [
      `data_dir: ${overlayPath(dataDir)} (settings changed at run time) must hold a JSON object; delete it to start without them`,
    ]);
  } finally {
    await temp.remove();
  }
});

test('--pretty turns a pino JSON line into one readable line', () => {
  const line = JSON.stringify({ level: 'info', time: '2025-01-02T03:04:05.678Z', node_id: 'n1', component: 'updates', update_id: 'u1', from: 'pending', to: 'downloading', msg: 'pending -> downloading' });
  assert.is(formatPretty(line), '03:04:05.678 INFO  [updates] pending -> downloading update_id=u1 from=pending to=downloading\n');
  assert.is(formatPretty('not json'), 'not json');
});

test('enrollment: bootstrap_file with no certificate yet gives no DTLS credentials but the bootstrap; it needs enroll_gateway and where to keep them', async () => {
  const temp = await tempDir('coap-fleet-agent-config-');
  try {
    await makePublisher(temp.path, 'pub');
    const bootstrap = join(temp.path, 'bootstrap-n1.json');
    await writeFile(bootstrap, JSON.stringify({ identity: 'bootstrap:n1', key_hex: '00112233445566778899aabbccddeeff' }));
    await writeFile(join(temp.path, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n');
    const base = {
      node_id: 'n1', gateway: 'coaps://127.0.0.1:5684', data_dir: join(temp.path, 'var'), publisher_key: join(temp.path, 'pub.pub.pem'),
      bootstrap_file: bootstrap, cert_file: join(temp.path, 'n1.crt'), key_file: join(temp.path, 'n1.key'), ca_file: join(temp.path, 'ca.crt'),
    };
    const config = loadAgentConfig({ cwd: temp.path, env: {}, flags: { ...base, enroll_gateway: 'coaps://127.0.0.1:5685' } });
    assert.is(config.dtls, undefined);
    assert.is(config.enrollment?.bootstrap?.identity, 'bootstrap:n1');
    assert.is(config.enrollment?.estUri, 'coaps://127.0.0.1:5685');
    assert.is(config.enrollment?.reenrollAtPercent, 70);
    assert.ok(problemsOf(() => loadAgentConfig({ cwd: temp.path, env: {}, flags: base })).some((problem) => /enroll_gateway/.test(problem)));
    const { cert_file: _cert, ...withoutCert } = base;
    assert.ok(problemsOf(() => loadAgentConfig({ cwd: temp.path, env: {}, flags: { ...withoutCert, enroll_gateway: 'coaps://127.0.0.1:5685' } }))
      .some((problem) => /bootstrap_file: needs cert_file/.test(problem)));
  } finally {
    await temp.remove();
  }
});

test.run();
