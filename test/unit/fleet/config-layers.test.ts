// The shared config loader: file < environment < flags, every problem at once naming the
// setting, its source and what is allowed, relative paths from the file's folder or the
// cwd, and earlier spellings (keys, variables, flags) read with one deprecation warning
// per setting, refused when given beside the current one.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkSetting, loadLayers, LOG_LEVELS, type FieldTable, type LayerSources } from '../../../src/fleet/config-layers.js';

const FIELDS = {
  name: { kind: 'text', required: true, description: 'a name', check: (value: string) => (value.length <= 8 ? undefined : 'at most 8 characters') },
  data_dir: { kind: 'path', default: null, canBeOff: true, description: 'a directory' },
  port: { kind: 'port', default: 5683, canBeOff: true, description: 'a port' },
  interval_s: { kind: 'seconds', min: 0.1, max: 60, default: 10, description: 'a period', deprecated: ['interval'] },
  grace_ms: { kind: 'milliseconds', min: 0, max: 1000, default: 100, description: 'a grace' },
  verbose: { kind: 'boolean', default: false, description: 'a switch' },
  log_level: { kind: 'choice', choices: LOG_LEVELS, default: 'info', description: 'a level' },
} as const satisfies FieldTable;

const LAYOUT = { fields: FIELDS, envPrefix: 'TEST_DAEMON_', deprecatedEnvPrefixes: ['TEST_'] };

let dir: string;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coap-fleet-config-layers-'));
  await mkdir(join(dir, 'etc'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const load = (sources: Partial<LayerSources>) => loadLayers(LAYOUT, { env: {}, flags: {}, cwd: '/srv', ...sources });

test('defaults, then the file, then the environment, then flags; each value typed', async () => {
  assert.equal(load({ flags: { name: 'a' } }).values, { name: 'a', data_dir: null, port: 5683, interval_s: 10, grace_ms: 100, verbose: false, log_level: 'info' });
  const file = join(dir, 'etc', 'layers.json');
  await writeFile(file, JSON.stringify({ name: 'file', port: 1, interval_s: 1, grace_ms: 1, log_level: 'warn' }));
  const { values, problems, deprecations } = load({
    file, env: { TEST_DAEMON_PORT: '2', TEST_DAEMON_INTERVAL_S: '2.5', TEST_DAEMON_VERBOSE: 'yes' }, flags: { port: '3', verbose: false },
  });
  assert.equal(problems, []);
  assert.equal(deprecations, []);
  assert.equal(values, { name: 'file', data_dir: null, port: 3, interval_s: 2.5, grace_ms: 1, verbose: false, log_level: 'warn' });
  assert.is(load({ flags: { name: 'a', port: 'off' } }).values.port, null, '"off" for a setting that can be off');
  assert.is(load({ env: { TEST_DAEMON_CONFIG: file } }).values.name, 'file', 'the file named by <prefix>CONFIG');
});

test('relative paths: from the config file\'s folder for file values, from the cwd for the environment and flags', async () => {
  const file = join(dir, 'etc', 'paths.json');
  await writeFile(file, JSON.stringify({ name: 'p', data_dir: '../var' }));
  assert.is(load({ file }).values.data_dir, join(dir, 'var'));
  assert.is(load({ file, env: { TEST_DAEMON_DATA_DIR: 'state' } }).values.data_dir, '/srv/state');
  assert.is(load({ file, flags: { data_dir: 'flagged' }, cwd: '/opt' }).values.data_dir, '/opt/flagged');
  assert.is(load({ file: 'etc/paths.json', cwd: dir }).values.data_dir, join(dir, 'var'), 'the file itself relative to the cwd');
});

test('every problem at once, each naming the setting, where it came from and what is allowed', async () => {
  const file = join(dir, 'etc', 'bad.json');
  await writeFile(file, JSON.stringify({ nmae: 'x', interval_s: 0, grace_ms: 1.5 }));
  const { problems } = load({ file, env: { TEST_DAEMON_PORT: '65536', TEST_DAEMON_LOG_LEVEL: 'loud' }, flags: { verbose: 'maybe' } });
  assert.equal(problems, [
    `unknown setting "nmae" in ${file}; known: name, data_dir, port, interval_s, grace_ms, verbose, log_level`,
    'name: required (--name, TEST_DAEMON_NAME or "name" in the config file)',
    'port (from TEST_DAEMON_PORT) must be a UDP port 0..65535 or "off", not "65536"',
    `interval_s (from ${file}) must be seconds from 0.1 to 60, not 0`,
    `grace_ms (from ${file}) must be whole milliseconds from 0 to 1000, not 1.5`,
    'verbose (from --verbose) must be true or false, not "maybe"',
    'log_level (from TEST_DAEMON_LOG_LEVEL) must be one of fatal, error, warn, info, debug, trace, silent, not "loud"',
  ]);
  assert.equal(load({ flags: { name: 'far too long' } }).problems, ['name (from --name) must be at most 8 characters, not "far too long"'], 'the daemon\'s own rule');
  await writeFile(file, '[1]');
  assert.equal(load({ file }).problems, [`the config file ${file} must hold a JSON object`]);
  await writeFile(file, '{');
  assert.match(load({ file }).problems.join(), /^the config file .*bad\.json is not valid JSON: /);
  assert.equal(load({ file: join(dir, 'absent.json') }).problems, [`cannot read the config file ${join(dir, 'absent.json')}: ENOENT`]);
});

test('an earlier spelling (key, variable prefix, flag) works with one deprecation warning per setting', async () => {
  const file = join(dir, 'etc', 'old.json');
  await writeFile(file, JSON.stringify({ name: 'old', interval: 3 }));
  const fromFile = load({ file });
  assert.equal(fromFile.problems, []);
  assert.is(fromFile.values.interval_s, 3);
  assert.equal(fromFile.deprecations, ['config: `interval` is deprecated, use `interval_s`']);
  await writeFile(file, JSON.stringify({ name: 'old', interval: 0 }));
  assert.equal(load({ file }).problems, [`interval_s (from ${file}, as interval) must be seconds from 0.1 to 60, not 0`], 'the spelling in the file named');
  assert.equal(load({ flags: { name: 'a', interval: '4' } }).deprecations, ['config: `--interval` is deprecated, use `--interval-s`']);
  const env = load({ env: { TEST_NAME: 'env', TEST_DAEMON_INTERVAL: '5' } });
  assert.equal(env.values.name, 'env');
  assert.is(env.values.interval_s, 5);
  assert.equal(env.deprecations, [
    'config: `TEST_NAME` is deprecated, use `TEST_DAEMON_NAME`',
    'config: `TEST_DAEMON_INTERVAL` is deprecated, use `TEST_DAEMON_INTERVAL_S`',
  ]);
  const everywhere = load({ file, env: { TEST_DAEMON_INTERVAL: '5' }, flags: { interval: '6' } });
  assert.is(everywhere.values.interval_s, 6, 'the usual order between sources');
  assert.equal(everywhere.deprecations, ['config: `interval`, `TEST_DAEMON_INTERVAL`, `--interval` are deprecated, use `interval_s`, `TEST_DAEMON_INTERVAL_S`, `--interval-s`'], 'one line for the setting');
  assert.equal(load({ file, env: { TEST_DAEMON_INTERVAL_S: '7' } }).values.interval_s, 7, 'a current spelling in a later source wins');
});

test('an earlier and the current spelling of one setting in the same source are an error', async () => {
  const file = join(dir, 'etc', 'both.json');
  await writeFile(file, JSON.stringify({ name: 'both', interval: 3, interval_s: 3 }));
  assert.equal(load({ file }).problems, ['interval_s: `interval_s` and `interval` are the same setting: keep only `interval_s`']);
  assert.equal(load({ flags: { name: 'a', interval: '1', interval_s: '1' } }).problems,
    ['interval_s: `--interval-s` and `--interval` are the same setting: keep only `--interval-s`']);
  assert.equal(load({ flags: { name: 'a' }, env: { TEST_PORT: '1', TEST_DAEMON_PORT: '1' } }).problems,
    ['port: `TEST_DAEMON_PORT` and `TEST_PORT` are the same setting: keep only `TEST_DAEMON_PORT`']);
});

test('lists and paths: a JSON array in the file, comma-separated elsewhere, each item checked; an overlay between the file and the environment', async () => {
  const lists = {
    units: { kind: 'list', default: [], description: 'units', check: (unit: string) => (unit.endsWith('.service') ? undefined : 'names ending in .service') },
    keys: { kind: 'paths', default: [], description: 'key files' },
  } as const satisfies FieldTable;
  const layout = { fields: lists, envPrefix: 'LISTS_' };
  const file = join(dir, 'etc', 'lists.json');
  await writeFile(file, JSON.stringify({ units: ['a.service'], keys: ['k.pub', '/abs/k2.pub'] }));
  const fromFile = loadLayers(layout, { file, env: {}, flags: {}, cwd: '/srv' });
  assert.equal(fromFile.values, { units: ['a.service'], keys: [join(dir, 'etc', 'k.pub'), '/abs/k2.pub'] });
  const fromFlags = loadLayers(layout, { env: {}, flags: { units: ' a.service, b.service ,', keys: 'k.pub' }, cwd: '/srv' });
  assert.equal(fromFlags.values, { units: ['a.service', 'b.service'], keys: ['/srv/k.pub'] });
  assert.equal(loadLayers(layout, { env: { LISTS_UNITS: 'sshd' }, flags: {}, cwd: '/srv' }).problems, ['units (from LISTS_UNITS) must be names ending in .service ("sshd"), not "sshd"']);
  assert.equal(checkSetting(lists.units, ['x.service', 3], '/'), { allowed: 'a list of at most 256 non-empty strings (a JSON array, or comma-separated)' });

  const overlay = { values: { units: ['o.service'], keys: ['o.pub'] }, from: '/data/remote.json', base: '/data' };
  const layered = loadLayers(layout, { file, env: { LISTS_KEYS: 'e.pub' }, flags: {}, cwd: '/srv', overlay });
  assert.equal(layered.values, { units: ['o.service'], keys: ['/srv/e.pub'] });
  assert.equal(loadLayers(layout, { env: {}, flags: {}, cwd: '/srv', overlay: { ...overlay, values: { units: 'x' } } }).problems,
    ['units (from /data/remote.json) must be names ending in .service ("x"), not "x"']);
});

test.run();
