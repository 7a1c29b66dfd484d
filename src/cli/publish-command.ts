// `coap-fleet publish`: flags in, src/operator's publish (manifest signed, update created,
// image uploaded block-wise) with a progress bar on a terminal, the manifest or a summary
// out. The operator's image and signing-key errors become usage errors naming the flag.

import { basename } from 'node:path';
import { DEFAULT_POLICY, parsePolicy, type Manifest } from '../fleet/manifest.js';
import { isValidId } from '../fleet/paths.js';
import { isValidVersion } from '../fleet/version.js';
import { ImageError, SigningKeyError } from '../operator/errors.js';
import { openGateway } from '../operator/gateway-client.js';
import { buildManifest, publishManifest, readSigningKey, type PublishProgress } from '../operator/publish.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import type { CliIo, OutputStream } from './output.js';
import { progressBar } from './progress.js';

const FLAGS = {
  image: { type: 'string', value: 'FILE', description: 'the image to publish' },
  version: { type: 'string', value: 'V', description: 'its version, e.g. 2.1.0 (agents refuse anything not newer)' },
  targets: { type: 'string', value: 'a,b,c', description: 'the node ids to update' },
  'signing-key': { type: 'string', value: 'FILE', description: 'the publisher\'s private key (publisher.key from keys generate)' },
  'update-id': { type: 'string', value: 'ID', description: 'the update\'s id (default fw-VERSION)' },
  'max-parallel': { type: 'string', value: 'N', description: `installs at once (default ${DEFAULT_POLICY.max_parallel_installs})` },
  canary: { type: 'string', value: 'N', description: 'the first N targets install first (default 0)' },
  'failure-threshold': { type: 'string', value: 'N', description: `failures that abort the rollout (default ${DEFAULT_POLICY.failure_threshold})` },
  'manifest-version': { type: 'string', value: 'N', description: 'manifest format: 2 (default, with chunk hashes) or 1 (for agents older than format 2)' },
  json: { type: 'boolean', description: 'print the manifest as JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const publishUsage = (): string => 'Usage: coap-fleet publish --image FILE --version V --targets a,b,c --signing-key FILE [options]\n\n'
  + 'Signs the image\'s manifest, creates the update on the gateway and uploads the image\n'
  + 'block-wise. Nodes learn of it through Observe and install it as the policy allows.\n'
  + 'Run the same publish again after an interrupted upload: the gateway keeps the update\n'
  + 'and the image is uploaded again from its first byte.\n\n'
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
  return error;
}

export async function runPublishCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(publishUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const { image, version, targets } = flags;
  const signingKey = flags['signing-key'];
  if (image === undefined || version === undefined || targets === undefined || signingKey === undefined) {
    throw new UsageError('--image, --version, --targets and --signing-key are required');
  }
  if (!isValidVersion(version)) throw new UsageError(`--version ${JSON.stringify(version)} is not a version like 2.1.0`);
  const updateId = flags['update-id'] ?? `fw-${version}`;
  if (!isValidId(updateId)) throw new UsageError(`--update-id ${JSON.stringify(updateId)}: 1-64 of [A-Za-z0-9._-]`);
  const targetNodes = targets.split(',').map((id) => id.trim()).filter((id) => id !== '');
  const problems: string[] = [];
  const count = (text: string | undefined, name: string): number | undefined =>
    (text === undefined ? undefined : parseNumber(text, name, { min: 0, max: 10_000, integer: true }));
  const policy = parsePolicy({
    max_parallel_installs: count(flags['max-parallel'], 'max-parallel') ?? DEFAULT_POLICY.max_parallel_installs,
    canary: count(flags.canary, 'canary') ?? DEFAULT_POLICY.canary,
    failure_threshold: count(flags['failure-threshold'], 'failure-threshold') ?? DEFAULT_POLICY.failure_threshold,
  }, problems);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  const manifestVersion = flags['manifest-version'] ?? '2';
  if (manifestVersion !== '1' && manifestVersion !== '2') throw new UsageError(`--manifest-version ${JSON.stringify(manifestVersion)}: 1 or 2`);

  let manifest: Manifest;
  try {
    const privateKey = await readSigningKey(signingKey);
    manifest = await buildManifest({
      image, version, updateId, targets: targetNodes, policy, privateKey, manifestVersion: manifestVersion === '1' ? 1 : 2,
    });
  } catch (error) {
    throw blameFlag(error);
  }
  const gateway = await openGateway(await gatewayOptions(flags));
  const progress = publishProgress(io.stderr, image);
  try {
    await publishManifest(gateway, manifest, image, progress);
  } finally {
    progress.finish();
    await gateway.close();
  }
  io.stdout.write(flags.json === true ? `${JSON.stringify(manifest)}\n`
    : `published ${updateId}: version ${version}, ${manifest.size} bytes, ${manifest.checksum}, ${targetNodes.length} target(s)\n`);
  return 0;
}
