// `coap-fleet publish`: flags in, src/operator's publish (manifest signed, update created,
// image uploaded block-wise) with a progress bar on a terminal, the manifest or a summary
// out. The operator's image and signing-key errors become usage errors naming the flag.
// --tags resolves to the nodes with those tags through the gateway before signing; the
// rollout plan (--waves, --bake, --wave-failure-threshold, --window, --group-windows) is
// signed with the manifest (policy format 2). --dry-run asks the targets through the
// gateway whether they could take the image (src/operator/dry-run.ts) and sends nothing.

import { basename } from 'node:path';
import type { HealthGate } from '../fleet/health-gate.js';
import { DEFAULT_POLICY, MAX_TARGETS, parsePolicy, type Manifest, type UpdatePolicy } from '../fleet/manifest.js';
import { isValidId } from '../fleet/paths.js';
import { isValidVersion } from '../fleet/version.js';
import { ImageError, NoTargetsError, SigningKeyError } from '../operator/errors.js';
import { openGateway, type GatewayClient, type GatewayOptions } from '../operator/gateway-client.js';
import { nodesTagged } from '../operator/node-tags.js';
import { dryRun } from '../operator/dry-run.js';
import { buildManifest, imageSize, publishManifest, readSigningKey, type PublishProgress } from '../operator/publish.js';
import { formatFlags, parseArgs, parseNumber, spanSeconds, type FlagValues } from './args.js';
import { formatDryRun } from './dry-run-table.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import type { CliIo, OutputStream } from './output.js';
import { progressBar } from './progress.js';
import { DRY_RUN_FAILED_STATUS } from './synopses.js';

const FLAGS = {
  image: { type: 'string', value: 'FILE', description: 'the image to publish' },
  version: { type: 'string', value: 'V', description: 'its version, e.g. 2.1.0 (agents refuse anything not newer)' },
  targets: { type: 'string', value: 'a,b,c', description: 'the node ids to update' },
  tags: { type: 'string', value: 'T,U', description: 'also the nodes with any of these tags (resolved through the gateway, then signed)' },
  'signing-key': { type: 'string', value: 'FILE', description: 'the publisher\'s private key (publisher.key from keys generate)' },
  'update-id': { type: 'string', value: 'ID', description: 'the update\'s id (default fw-VERSION)' },
  'max-parallel': { type: 'string', value: 'N', description: `installs at once (default ${DEFAULT_POLICY.max_parallel_installs})` },
  canary: { type: 'string', value: 'N', description: 'the first N targets install first (default 0)' },
  'failure-threshold': { type: 'string', value: 'N', description: `failures that abort the rollout (default ${DEFAULT_POLICY.failure_threshold})` },
  waves: { type: 'string', value: '1,10%,50%,100%', description: 'install in waves: cumulative target counts or shares, in order' },
  bake: { type: 'string', value: 'SPAN', description: 'with --waves: how long a wave\'s nodes must be done before the next starts (30s, 10m, 2h, 1d)' },
  'wave-failure-threshold': { type: 'string', value: 'N', description: 'with --waves: failures in one wave that abort the rollout' },
  window: { type: 'string', value: 'WINDOW', description: 'install only inside it, e.g. "Mon-Fri 02:00-05:00 Europe/Berlin"' },
  'group-windows': { type: 'string', value: 'T=WINDOW|U=WINDOW', description: 'windows by node tag, before --window' },
  'health-gate': {
    type: 'string', value: 'cpu=20,memory=15,restarts=0,alerts=0,on-breach=pause,baseline=10m',
    description: 'with --waves: open the next wave only while the updated nodes stay within these margins of their baseline',
  },
  'manifest-version': { type: 'string', value: 'N', description: 'manifest format: 2 (default, with chunk hashes) or 1 (for agents older than format 2)' },
  'dry-run': {
    type: 'boolean', description: 'sign and send nothing: ask each target through the gateway whether it could take the image, and say who would fail and why',
  },
  json: { type: 'boolean', description: 'print the manifest (with --dry-run: the report) as JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const publishUsage = (): string => 'Usage: coap-fleet publish --image FILE --version V --targets a,b,c|--tags T --signing-key FILE [options]\n\n'
  + 'Signs the image\'s manifest, creates the update on the gateway and uploads the image\n'
  + 'block-wise. Nodes learn of it through Observe and install it as the policy allows.\n'
  + 'Run the same publish again after an interrupted upload: the gateway keeps the update\n'
  + 'and the image is uploaded again from its first byte.\n\n'
  + 'A rollout plan: --waves 1,10%,50%,100% --bake 10m installs on the first target, then up\n'
  + 'to 10 % of them, and so on, each wave 10 minutes after the one before is done;\n'
  + '--window "Mon-Fri 02:00-05:00; Sat,Sun 00:00-06:00 Europe/Berlin" lets nodes download\n'
  + 'any time but install only inside it. The plan is signed (agents before it cannot verify).\n\n'
  + '--dry-run checks the same flags, then asks every target through the gateway (its presence,\n'
  + 'version and measured link; its agent\'s free space for the image, slots and install in\n'
  + 'flight) and prints who would fail and why, and whether the update id is taken; nothing is\n'
  + 'signed or uploaded, and --signing-key may be left out. Exit status 0: all would pass;\n'
  + `${DRY_RUN_FAILED_STATUS}: a target would fail, or the gateway would refuse the update.\n\n`
  + `Options:\n${formatFlags(FLAGS)}`;

/** A publish's progress on `stream`: a line when an interrupted upload starts again, and
 * the upload's bar (drawn only on a terminal); `finish` ends the bar's line. The demo
 * shows its publish the same way. */
export function publishProgress(stream: OutputStream, image: string): PublishProgress & { finish(): void } {
  const bar = progressBar(stream, `upload ${basename(image)}`);
  return {
    onResume: (updateId) => { stream.write(`update ${updateId} exists without its image: uploading it again\n`); },
    onUpload: (sent, total) => bar.update(sent, total),
    finish: () => bar.finish(),
  };
}

/** The operator's errors that a flag's value caused, as usage errors naming the flag. */
function blameFlag(error: unknown): unknown {
  if (error instanceof ImageError) return new UsageError(`--image: ${error.message}`, { cause: error });
  if (error instanceof SigningKeyError) return new UsageError(`--signing-key: ${error.message}`, { cause: error });
  if (error instanceof NoTargetsError) return new UsageError(`--tags: ${error.message}`, { cause: error });
  return error;
}

export async function runPublishCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(publishUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const { image, version, targets, tags } = flags;
  const signingKey = flags['signing-key'];
  const dry = flags['dry-run'] === true;
  if (image === undefined || version === undefined || (targets === undefined && tags === undefined) || (signingKey === undefined && !dry)) {
    throw new UsageError('--image, --version, --targets or --tags, and --signing-key (unless --dry-run) are required');
  }
  if (!isValidVersion(version)) throw new UsageError(`--version ${JSON.stringify(version)} is not a version like 2.1.0`);
  const updateId = flags['update-id'] ?? `fw-${version}`;
  if (!isValidId(updateId)) throw new UsageError(`--update-id ${JSON.stringify(updateId)}: 1-64 of [A-Za-z0-9._-]`);
  const policy = policyOf(flags);
  const manifestVersion = flags['manifest-version'] ?? '2';
  if (manifestVersion !== '1' && manifestVersion !== '2') throw new UsageError(`--manifest-version ${JSON.stringify(manifestVersion)}: 1 or 2`);

  const options = await gatewayOptions(flags);
  if (dry || signingKey === undefined) {
    return dryRunPublish({ image, version, updateId, targets, tags, signingKey, policy, json: flags.json === true }, options, io);
  }
  // The gateway is opened first only to resolve --tags: a bad image or key is a usage
  // error before any packet is sent.
  let gateway: GatewayClient | undefined = tags === undefined ? undefined : await openGateway(options);
  const progress = publishProgress(io.stderr, image);
  let manifest: Manifest;
  try {
    const targetNodes = await targetsOf(gateway, targets, tags);
    try {
      const privateKey = await readSigningKey(signingKey);
      manifest = await buildManifest({
        image, version, updateId, targets: targetNodes, policy, privateKey, manifestVersion: manifestVersion === '1' ? 1 : 2,
      });
    } catch (error) {
      throw blameFlag(error);
    }
    gateway ??= await openGateway(options);
    await publishManifest(gateway, manifest, image, progress);
  } finally {
    progress.finish();
    await gateway?.close();
  }
  io.stdout.write(flags.json === true ? `${JSON.stringify(manifest)}\n`
    : `published ${updateId}: version ${version}, ${manifest.size} bytes, ${manifest.checksum}, ${manifest.target_nodes.length} target(s)${planSummary(manifest)}\n`);
  return 0;
}

interface DryRunFlags {
  readonly image: string;
  readonly version: string;
  readonly updateId: string;
  readonly targets: string | undefined;
  readonly tags: string | undefined;
  readonly signingKey: string | undefined;
  readonly policy: UpdatePolicy;
  readonly json: boolean;
}

/** The dry run: the image's size and the key (when given) checked as a publish checks
 * them, the targets resolved as a publish resolves them, then each asked; nothing sent
 * but GETs. */
async function dryRunPublish(flags: DryRunFlags, options: GatewayOptions, io: CliIo): Promise<number> {
  let imageBytes: number;
  try {
    imageBytes = await imageSize(flags.image);
    if (flags.signingKey !== undefined) await readSigningKey(flags.signingKey);
  } catch (error) {
    throw blameFlag(error);
  }
  const gateway = await openGateway(options);
  try {
    const targets = await targetsOf(gateway, flags.targets, flags.tags);
    if (targets.length === 0 || targets.length > MAX_TARGETS) throw new UsageError(`--targets: 1..${MAX_TARGETS} node ids`);
    const report = await dryRun(gateway, { updateId: flags.updateId, targets, version: flags.version, imageBytes, plan: flags.policy });
    io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatDryRun(report));
    return report.failed === 0 && report.update_failures.length === 0 ? 0 : DRY_RUN_FAILED_STATUS;
  } finally {
    await gateway.close();
  }
}

/** --targets, with the nodes that have any of --tags. */
async function targetsOf(gateway: GatewayClient | undefined, targets: string | undefined, tags: string | undefined): Promise<string[]> {
  const listed = (targets ?? '').split(',').map((id) => id.trim()).filter((id) => id !== '');
  if (tags === undefined || gateway === undefined) return listed;
  const names = tags.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
  try {
    const tagged = await nodesTagged(gateway, names);
    return [...listed, ...tagged.filter((id) => !listed.includes(id))];
  } catch (error) {
    throw blameFlag(error);
  }
}

/** The policy from the flags, checked as the gateway will check it. */
function policyOf(flags: FlagValues<typeof FLAGS>): UpdatePolicy {
  const count = (text: string | undefined, name: string): number | undefined =>
    (text === undefined ? undefined : parseNumber(text, name, { min: 0, max: 10_000, integer: true }));
  const waves = flags.waves?.split(',').map((size) => size.trim());
  if ((flags.bake !== undefined || flags['wave-failure-threshold'] !== undefined || flags['health-gate'] !== undefined) && waves === undefined) {
    throw new UsageError('--bake, --wave-failure-threshold and --health-gate go with --waves');
  }
  const bake = flags.bake === undefined ? undefined : spanSeconds(flags.bake);
  if (flags.bake !== undefined && bake === undefined) throw new UsageError(`--bake must be a span like 30s, 10m, 2h or 1d, not ${JSON.stringify(flags.bake)}`);
  const groupWindows = flags['group-windows'] === undefined ? undefined : Object.fromEntries(flags['group-windows'].split('|').map((entry) => {
    const equals = entry.indexOf('=');
    if (equals <= 0) throw new UsageError(`--group-windows takes TAG=WINDOW|TAG=WINDOW, not ${JSON.stringify(entry)}`);
    return [entry.slice(0, equals).trim(), entry.slice(equals + 1).trim()];
  }));
  const problems: string[] = [];
  const policy = parsePolicy({
    max_parallel_installs: count(flags['max-parallel'], 'max-parallel') ?? DEFAULT_POLICY.max_parallel_installs,
    canary: count(flags.canary, 'canary') ?? DEFAULT_POLICY.canary,
    failure_threshold: count(flags['failure-threshold'], 'failure-threshold') ?? DEFAULT_POLICY.failure_threshold,
    waves, bake_s: bake, wave_failure_threshold: count(flags['wave-failure-threshold'], 'wave-failure-threshold'),
    window: flags.window, group_windows: groupWindows,
    health_gate: flags['health-gate'] === undefined ? undefined : healthGateOf(flags['health-gate']),
  }, problems);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return policy;
}

const GATE_KEYS: Readonly<Record<string, keyof HealthGate>> = {
  cpu: 'cpu_margin_percent', memory: 'memory_margin_percent', restarts: 'max_restarts', alerts: 'max_new_alerts', 'on-breach': 'on_breach', baseline: 'baseline_s',
};

/** --health-gate "cpu=20,memory=15,restarts=0,alerts=0,on-breach=pause,baseline=10m" as the policy's
 * health_gate; the values are checked with the rest of the policy. */
function healthGateOf(text: string): HealthGate {
  const gate: Record<string, unknown> = {};
  for (const entry of text.split(',')) {
    const [key, value, ...extra] = entry.trim().split('=');
    const field = key === undefined ? undefined : GATE_KEYS[key];
    if (field === undefined || value === undefined || extra.length > 0) {
      throw new UsageError(`--health-gate takes ${Object.keys(GATE_KEYS).join('=…,')}=…, not ${JSON.stringify(entry)}`);
    }
    gate[field] = field === 'on_breach' ? value : field === 'baseline_s' ? spanSeconds(value) ?? Number.NaN : Number(value);
  }
  return gate as HealthGate;
}

/** ", waves 1/10%/100% baking 600 s, window …" for the summary line; empty without a plan. */
function planSummary({ policy }: Manifest): string {
  const parts = [
    policy.waves === undefined ? '' : `waves ${policy.waves.join('/')}${policy.bake_s === undefined ? '' : ` baking ${policy.bake_s} s`}`,
    policy.window === undefined ? '' : `window ${policy.window}`,
    policy.group_windows === undefined ? '' : `${Object.keys(policy.group_windows).length} group window(s)`,
    policy.health_gate === undefined ? '' : 'health-gated',
  ].filter((part) => part !== '');
  return parts.length === 0 ? '' : `, ${parts.join(', ')}`;
}
