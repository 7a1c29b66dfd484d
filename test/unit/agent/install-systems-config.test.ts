// The install systems' settings (issue 13): install_adapter rauc|swupdate with
// reboot_command (restart_command by default), reboot_timeout_s and SWUpdate's software
// set and boot variable; what belongs to another adapter is refused by name.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadAgentConfig, type AgentConfig } from '../../../src/agent/config.js';
import { AgentConfigError } from '../../../src/agent/errors.js';
import { makePublisher, tempDir } from './fake-gateway.js';

/** The loaded config, or the problems of its AgentConfigError. */
async function load(flags: Record<string, string>): Promise<{ config: AgentConfig } | { problems: readonly string[] }> {
  const temp = await tempDir('coap-fleet-install-systems-config-');
  try {
    const publisher = await makePublisher(temp.path);
    return { config: loadAgentConfig({ flags: { node_id: 'n1', gateway: 'coap://127.0.0.1:5683', publisher_key: publisher.publicKeyPath, ...flags } }) };
  } catch (error) {
    if (error instanceof AgentConfigError) return { problems: error.problems };
    throw error;
  } finally {
    await temp.remove();
  }
}

async function config(flags: Record<string, string>): Promise<AgentConfig> {
  const loaded = await load(flags);
  if ('problems' in loaded) throw new Error(loaded.problems.join('; '));
  return loaded.config;
}

async function problems(flags: Record<string, string>): Promise<readonly string[]> {
  const loaded = await load(flags);
  if ('config' in loaded) throw new Error('no AgentConfigError');
  return loaded.problems;
}

test('rauc: reboot_command defaults to restart_command; reboot_timeout_s in seconds', async () => {
  const rauc = await config({ install_adapter: 'rauc', restart_command: '/sbin/reboot', reboot_timeout_s: '90' });
  assert.equal([rauc.installAdapter, rauc.rebootCommand, rauc.rebootTimeoutMs], ['rauc', '/sbin/reboot', 90_000]);
});

test('swupdate: software set and boot variable, with their defaults and their checks', async () => {
  const defaults = await config({ install_adapter: 'swupdate', reboot_command: 'systemctl reboot' });
  assert.equal([defaults.swupdateSoftwareSet, defaults.swupdateBootVariable, defaults.rebootCommand, defaults.rebootTimeoutMs],
    ['stable', 'boot_copy', 'systemctl reboot', 300_000]);
  const refused = await problems({ install_adapter: 'swupdate', swupdate_software_set: 'stable,copy1', swupdate_boot_variable: 'boot copy' });
  assert.equal(refused.map((problem) => problem.split(' ')[0]), ['swupdate_software_set', 'swupdate_boot_variable']);
});

test('settings of another adapter are refused by name', async () => {
  const rauc = await problems({ install_adapter: 'rauc', install_command: 'rauc install "$IMAGE_PATH"', rollback_command: 'true' });
  assert.equal(rauc, [
    'install_command: only with install_adapter "command"',
    'rollback_command: only with install_adapter "command" (rauc rolls back itself)',
  ]);
  assert.equal(await problems({ reboot_command: 'systemctl reboot' }), ['reboot_command: only with install_adapter "rauc" or "swupdate"']);
  const unknown = await problems({ install_adapter: 'mender' });
  assert.ok(unknown.length === 1 && unknown[0]!.startsWith('install_adapter'), JSON.stringify(unknown));
});

test.run();
