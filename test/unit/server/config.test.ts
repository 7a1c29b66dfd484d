// The gateway's configuration: file < environment < flags, relative paths from the file's
// folder, defaults, every mistake named in one ConfigError, the COAP_FLEET_<KEY> variables of
// earlier releases still read with a deprecation warning; the pretty log formatter.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, type ConfigSources } from '../../../src/server/config.js';
import { loadPskFile } from '../../../src/server/credentials.js';
import { openEndpoints } from '../../../src/server/endpoints.js';
import { silentLogger } from '../../../src/protocol/runtime.js';
import { ConfigError } from '../../../src/server/errors.js';
import { formatPretty } from '../../../src/fleet/logger.js';
import { rejection } from './gateway-harness.js';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-config-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sources = (overrides: Partial<ConfigSources>): ConfigSources => ({ flags: {}, env: {}, cwd: '/work', ...overrides });

async function configError(overrides: Partial<ConfigSources>): Promise<string> {
  try {
    await loadConfig(sources(overrides));
  } catch (error) {
    assert.instance(error, ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

test('defaults: loopback plain CoAP on 5683 with local rights, no DTLS', async () => {
  const config = await loadConfig(sources({ flags: { data_dir: 'state' } }));
  assert.is(config.data_dir, '/work/state');
  assert.is(config.host, '127.0.0.1');
  assert.is(config.port, 5683);
  assert.is(config.dtls_port, null);
  assert.is(config.allow_local_plain, true);
  assert.is(config.log_level, 'info');
  assert.is(config.health_interval_s, 30);
  assert.is(config.node_timeout_ms, 10_000);
  assert.is(config.dtls_hibernate_after_s, 10);
  assert.is((await loadConfig(sources({ flags: { data_dir: 'state', dtls_hibernate_after_s: '0' } }))).dtls_hibernate_after_s, 0);
  assert.is(config.dtls_max_sessions, 20_000, 'room for 10,000 nodes and their operators');
  assert.is((await loadConfig(sources({ flags: { data_dir: 'state', dtls_max_sessions: '50000' } }))).dtls_max_sessions, 50_000);
  assert.is((await loadConfig(sources({ flags: { data_dir: 'state', node_timeout_ms: '2500' } }))).node_timeout_ms, 2500);
  assert.match(await configError({ flags: { data_dir: 'state', node_timeout_ms: '5' } }), 'node_timeout_ms (from --node-timeout-ms) must be whole milliseconds from 100 to 600000, not "5"');
});

test('retransmission: CoCoA by default, fixed (RFC 7252 §4.8) on request, and the endpoints get it; nothing else is accepted', async () => {
  const config = await loadConfig(sources({ flags: { data_dir: 'state' } }));
  assert.is(config.retransmission, 'cocoa');
  const fixed = await loadConfig(sources({ flags: { data_dir: 'state', retransmission: 'fixed', port: '0' } }));
  assert.is(fixed.retransmission, 'fixed');
  assert.match(await configError({ flags: { data_dir: 'state', retransmission: 'fast' } }), 'retransmission (from --retransmission) must be one of cocoa, fixed');
  for (const gatewayConfig of [{ ...config, port: 0 }, fixed]) {
    const { coap } = await openEndpoints(gatewayConfig, silentLogger);
    assert.is(coap!.messageLayer.parameters.congestionControl, gatewayConfig.retransmission);
    await coap!.close();
  }
});

test('the file is overridden by the environment, which is overridden by flags', async () => {
  const file = join(dir, 'gateway.json');
  await writeFile(file, JSON.stringify({ data_dir: 'data', port: 6000, log_level: 'warn', host: '0.0.0.0', health_interval_s: 10 }));
  const config = await loadConfig(sources({
    file, env: { COAP_FLEET_SERVER_PORT: '7000', COAP_FLEET_SERVER_LOG_LEVEL: 'debug' }, flags: { port: '0', pretty: true },
  }));
  assert.is(config.data_dir, join(dir, 'data'), 'relative to the config file');
  assert.is(config.port, 0);
  assert.is(config.log_level, 'debug');
  assert.is(config.pretty, true);
  assert.is(config.health_interval_s, 10);
  assert.is(config.allow_local_plain, false, 'not loopback-bound: plain CoAP has no local rights by default');
  const viaEnv = await loadConfig(sources({
    env: { COAP_FLEET_SERVER_CONFIG: file, COAP_FLEET_SERVER_ALLOW_LOCAL_PLAIN: 'true', COAP_FLEET_SERVER_PORT: 'off', COAP_FLEET_SERVER_DTLS_PORT: '5684', COAP_FLEET_SERVER_PSK_FILE: file },
  }));
  assert.is(viaEnv.allow_local_plain, true);
  assert.is(viaEnv.port, null);
  assert.is(viaEnv.dtls_port, 5684);
  assert.is(viaEnv.dtls_host, '0.0.0.0', 'the DTLS host follows host');
});

test('mistakes are named on one line with the setting, its source and what is allowed; every one at once', async () => {
  assert.is(await configError({}), 'data_dir: required (--data-dir, COAP_FLEET_SERVER_DATA_DIR or "data_dir" in the config file)');
  assert.is(await configError({ flags: { data_dir: 'd', port: '70000' } }), 'port (from --port) must be a UDP port 0..65535 or "off", not "70000"');
  assert.is(await configError({ flags: { data_dir: 'd' }, env: { COAP_FLEET_SERVER_LOG_LEVEL: 'loud' } }),
    'log_level (from COAP_FLEET_SERVER_LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent, not "loud"');
  assert.is(await configError({ flags: { port: '70000', health_interval_s: '0' }, env: { COAP_FLEET_SERVER_SHUTDOWN_GRACE_MS: '1.5' } }), [
    'data_dir: required (--data-dir, COAP_FLEET_SERVER_DATA_DIR or "data_dir" in the config file)',
    'port (from --port) must be a UDP port 0..65535 or "off", not "70000"',
    'health_interval_s (from --health-interval-s) must be seconds from 0.01 to 86400, not "0"',
    'shutdown_grace_ms (from COAP_FLEET_SERVER_SHUTDOWN_GRACE_MS) must be whole milliseconds from 0 to 600000, not "1.5"',
  ].join('; '), 'every problem at once');
  assert.match(await configError({ flags: { data_dir: 'd', port: 'off' } }), /nothing to listen on/);
  assert.match(await configError({ flags: { data_dir: 'd', dtls_port: '5684' } }), /dtls_port needs credentials/);
  assert.match(await configError({ flags: { data_dir: 'd', dtls_port: '5684', cert_file: 'c.pem' } }), /cert_file, key_file and ca_file together/);
  assert.match(await configError({ flags: { data_dir: 'd', publisher_key_file: join(dir, 'missing.pem') } }), /publisher_key_file: cannot read .*missing.pem: ENOENT/);
  assert.match(await configError({ flags: { data_dir: 'd', host: 'not a host' } }), /host \(from --host\) must be an IP address or host name/);
  const file = join(dir, 'typo.json');
  await writeFile(file, JSON.stringify({ data_dir: 'd', prot: 1 }));
  assert.match(await configError({ file }), /unknown setting "prot" in .*typo.json; known: data_dir, host, port/);
  await writeFile(file, '{ not json');
  assert.match(await configError({ file }), /is not valid JSON/);
  assert.match(await configError({ file: join(dir, 'absent.json') }), /cannot read the config file .*absent.json: ENOENT/);
});

test('alert thresholds: defaults, from any source; a value out of range or a clear level above its threshold is named', async () => {
  const defaults = await loadConfig(sources({ flags: { data_dir: 'd' } }));
  assert.equal([defaults.alert_cpu_percent, defaults.alert_cpu_clear_percent, defaults.alert_disk_percent, defaults.alert_disk_for_s, defaults.alert_temperature_c], [90, 80, 90, 300, 80]);
  const set = await loadConfig(sources({ flags: { data_dir: 'd', alert_disk_percent: '75.5' }, env: { COAP_FLEET_SERVER_ALERT_DISK_CLEAR_PERCENT: '70', COAP_FLEET_SERVER_ALERT_TEMPERATURE_C: '-5', COAP_FLEET_SERVER_ALERT_TEMPERATURE_CLEAR_C: '-10' } }));
  assert.equal([set.alert_disk_percent, set.alert_disk_clear_percent, set.alert_temperature_c], [75.5, 70, -5]);
  assert.is(await configError({ flags: { data_dir: 'd', alert_memory_percent: '101' } }), 'alert_memory_percent (from --alert-memory-percent) must be a number from 0 to 100, not "101"');
  assert.is(await configError({ flags: { data_dir: 'd', alert_disk_percent: '80', alert_disk_clear_percent: '85' } }), 'alert_disk_clear_percent (85) must not be above alert_disk_percent (80)');
});

test('the COAP_FLEET_<KEY> variables of earlier releases still work, with one deprecation warning each; old and new together are an error', async () => {
  const file = join(dir, 'old-env.json');
  await writeFile(file, JSON.stringify({ data_dir: 'data' }));
  const warnings: string[] = [];
  const config = await loadConfig(sources({
    env: { COAP_FLEET_CONFIG: file, COAP_FLEET_PORT: '7000', COAP_FLEET_HEALTH_INTERVAL_S: '5' }, onDeprecated: (warning) => warnings.push(warning),
  }));
  assert.is(config.data_dir, join(dir, 'data'), 'the file named by the old variable is read');
  assert.is(config.port, 7000);
  assert.is(config.health_interval_s, 5);
  assert.equal(warnings.sort(), [
    'config: `COAP_FLEET_CONFIG` is deprecated, use `COAP_FLEET_SERVER_CONFIG`',
    'config: `COAP_FLEET_HEALTH_INTERVAL_S` is deprecated, use `COAP_FLEET_SERVER_HEALTH_INTERVAL_S`',
    'config: `COAP_FLEET_PORT` is deprecated, use `COAP_FLEET_SERVER_PORT`',
  ]);
  assert.is(await configError({ flags: { data_dir: 'd' }, env: { COAP_FLEET_PORT: '7000', COAP_FLEET_SERVER_PORT: '7001' } }),
    'port: `COAP_FLEET_SERVER_PORT` and `COAP_FLEET_PORT` are the same setting: keep only `COAP_FLEET_SERVER_PORT`');
});

test('a PSK file as keys generate writes it: identities to hex keys, each checked', async () => {
  const file = join(dir, 'psk.json');
  await writeFile(file, JSON.stringify({ 'node:n1': '00112233445566778899aabbccddeeff', 'operator:admin': 'ffee' }));
  const keys = await loadPskFile(file);
  assert.is(keys.get('node:n1')!.toString('hex'), '00112233445566778899aabbccddeeff');
  await writeFile(file, JSON.stringify({ 'node:n1': 'xyz' }));
  const error = await rejection(loadPskFile(file));
  assert.ok(error instanceof ConfigError && /identity "node:n1"/.test(error.message));
});

test('pretty log lines: time, level, component, message and fields', () => {
  const line = formatPretty('{"level":"warn","time":"2025-01-02T03:04:05.678Z","pid":1,"component":"access","msg":"request denied","who":"node:n1","path":"/nodes/n2/health","reason":"may not PUT"}\n');
  assert.is(line, '03:04:05.678 WARN  [access] request denied who=node:n1 path=/nodes/n2/health reason="may not PUT"\n');
  assert.is(formatPretty('not json\n'), 'not json\n');
});

test.run();
