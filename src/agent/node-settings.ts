// The agent's settings as GET /system/config shows them and a signed config.set changes
// them (DESIGN §5): each value checked by the config loader's own rules, the change
// persisted in the overlay (settings-overlay.ts) before it is answered, then applied at
// once through the hooks registered for it (onSettingChanged); a setting without a hook
// applies at the next start, and the view's `live` says which is which.

import type { CommandArgs } from '../fleet/command-envelope.js';
import type { NodeConfigView } from '../fleet/node-views.js';
import { checkAgentSetting, CONFIG_FIELDS, REMOTE_SETTINGS, type AgentConfig } from './config.js';
import { readOverlay, writeOverlay } from './settings-overlay.js';

type SettingValue = NodeConfigView['settings'][string];
export type SettingHook = (value: unknown) => void;

/** Shown besides the remote settings: what an operator needs to know of a node, and no
 * secret: no key material, no paths to credentials, no hook commands (which may carry
 * tokens). The pinned operator keys are shown by their public key ids. */
const SHOWN: readonly string[] = [
  'gateway', 'initial_version', 'hardware', 'install_adapter', 'install_timeout_s', 'health_check_timeout_s', 'install_max_wait_s',
  'listen_port', 'system_command_timeout_s',
];

export class NodeSettings {
  readonly #config: AgentConfig;
  /** The effective value of every setting, by key. */
  readonly #values: Record<string, unknown>;
  /** The remote changes so far, as persisted. */
  #overlay: Record<string, unknown>;
  /** key → the hooks that apply it live; registered once at start, never removed. */
  readonly #hooks = new Map<string, SettingHook[]>();
  /** Overlay writes one after the other, so two changes never interleave their files. */
  #writing: Promise<void> = Promise.resolve();

  constructor(config: AgentConfig) {
    this.#config = config;
    this.#values = { ...config.settings };
    const overlay = readOverlay(config.dataDir);
    // The loader read the same file a moment ago and refused a bad one.
    this.#overlay = 'values' in overlay ? { ...overlay.values } : {};
  }

  /** Calls `hook` with the new value whenever `key` is changed remotely; makes `key` live. */
  onSettingChanged(key: string, hook: SettingHook): void {
    this.#hooks.set(key, [...(this.#hooks.get(key) ?? []), hook]);
  }

  value(key: string): unknown {
    return this.#values[key];
  }

  /** GET /system/config. */
  view(): NodeConfigView {
    const settings: Record<string, SettingValue> = {};
    for (const key of [...SHOWN, ...REMOTE_SETTINGS]) {
      const value = this.#values[key];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || Array.isArray(value)) settings[key] = value as SettingValue;
    }
    settings.operator_key_ids = [...this.#config.operatorKeys.keys()];
    return { node_id: this.#config.nodeId, settings, live: REMOTE_SETTINGS.filter((key) => this.#hooks.has(key)) };
  }

  /** What is wrong with `args` as a config.set, every problem at once; undefined if nothing. */
  problems(args: CommandArgs): string | undefined {
    const checked = this.#check(args);
    return 'problems' in checked ? checked.problems.join('; ') : undefined;
  }

  /** Persists the change, then applies it; the settings changed, and those of them that
   * wait for the next start. Call `problems` first: a bad change throws TypeError. */
  async change(args: CommandArgs): Promise<{ readonly changed: readonly string[]; readonly atNextStart: readonly string[] }> {
    const checked = this.#check(args);
    if ('problems' in checked) throw new TypeError(`not a valid change: ${checked.problems.join('; ')}`);
    const overlay = { ...this.#overlay, ...checked.values };
    const write = this.#writing.then(() => writeOverlay(this.#config.dataDir, overlay));
    this.#writing = write.catch(() => {});
    await write;
    this.#overlay = overlay;
    const changed = Object.keys(checked.values);
    for (const key of changed) {
      this.#values[key] = checked.values[key];
      for (const hook of this.#hooks.get(key) ?? []) hook(checked.values[key]);
    }
    return { changed, atNextStart: changed.filter((key) => !this.#hooks.has(key)) };
  }

  #check(args: CommandArgs): { values: Record<string, unknown> } | { problems: string[] } {
    const problems: string[] = [];
    const values: Record<string, unknown> = {};
    const keys = Object.keys(args);
    if (keys.length === 0) problems.push('no setting given');
    for (const key of keys) {
      if (!Object.hasOwn(CONFIG_FIELDS, key)) {
        problems.push(`${key}: not a setting`);
      } else if (!REMOTE_SETTINGS.includes(key)) {
        problems.push(`${key}: not changeable remotely (these are: ${REMOTE_SETTINGS.filter((name) => Object.hasOwn(CONFIG_FIELDS, name)).join(', ')})`);
      } else if (this.#config.lockedSettings.includes(key)) {
        problems.push(`${key}: set on this node by its environment or a flag, which outrank a remote change`);
      } else {
        const checked = checkAgentSetting(key, args[key]);
        if ('problem' in checked) problems.push(checked.problem);
        else values[key] = checked.value;
      }
    }
    return problems.length > 0 ? { problems } : { values };
  }
}
