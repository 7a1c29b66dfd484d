// `coap-fleet publish`: builds the manifest of an image (size, sha256, targets), signs it
// with the publisher's Ed25519 key, creates the update on the gateway (POST /updates) and
// uploads the image block-wise (PUT /updates/{id}/download), with a progress bar. The
// same publish again after an interrupted upload resumes it (the gateway answers 2.04).

import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { DEFAULT_POLICY, parsePolicy, signManifest, type Manifest, type UnsignedManifest, type UpdatePolicy } from '../fleet/manifest.js';
import { gatewayPath, isValidId } from '../fleet/paths.js';
import { isValidVersion } from '../fleet/version.js';
import { fileBody } from '../protocol/body.js';
import { codeClass, Method, ResponseCode } from '../protocol/codes.js';
import { formatFlags, parseArgs, parseNumber, UsageError } from './args.js';
import { sha256File } from '../fleet/sha256-file.js';
import { GATEWAY_FLAGS, GatewayError, openGateway, type GatewayClient } from './gateway-client.js';
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

export interface PublishRequest {
  readonly image: string;
  readonly version: string;
  readonly updateId: string;
  readonly targets: readonly string[];
  readonly policy: UpdatePolicy;
  readonly privateKey: string;
  /** Where the upload's progress bar goes (drawn only on a terminal). */
  readonly progress: OutputStream;
}

/** Signs the image's manifest, creates the update and uploads the image; the demo uses
 * it as it is. */
export async function publishImage(gateway: GatewayClient, request: PublishRequest): Promise<Manifest> {
  const { image, version, updateId, targets, policy } = request;
  const { size } = await stat(image).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--image: cannot read ${image}: ${error.code ?? error.message}`);
  });
  if (size === 0) throw new UsageError(`--image: ${image} is empty (0 bytes): there is nothing to install`);
  const unsigned: UnsignedManifest = {
    update_id: updateId, version, size, checksum: `sha256:${await sha256File(image)}`, target_nodes: targets, policy,
  };
  const manifest = signManifest(unsigned, request.privateKey);
  const created = await gateway.send(Method.POST, '/updates', manifest);
  // 2.04: the gateway has this very manifest without its image (an earlier publish was cut
  // off mid-upload); the upload starts again from its first block.
  if (created.code === ResponseCode.Changed) request.progress.write(`update ${updateId} exists without its image: uploading it again\n`);
  const bar = progressBar(request.progress, `upload ${basename(image)}`);
  const uploaded = await gateway.endpoint.upload({
    uri: `${gateway.base}${gatewayPath.download(updateId)}`, method: Method.PUT, source: fileBody(image, size), timeoutMs: 30_000,
    onProgress: (sent, total) => bar.update(sent, total),
  });
  bar.finish();
  if (codeClass(uploaded.code) !== 2) throw new GatewayError(uploaded, 'image upload');
  return manifest;
}

export async function runPublishCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS);
  if (flags.help === true) {
    io.stdout.write(publishUsage());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const { image, version, targets } = flags;
  const key = flags['signing-key'];
  if (image === undefined || version === undefined || targets === undefined || key === undefined) {
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

  const privateKey = await readFile(key, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--signing-key: cannot read ${key}: ${error.code ?? error.message}`);
  });
  const gateway = await openGateway(flags);
  let manifest: Manifest;
  try {
    manifest = await publishImage(gateway, { image, version, updateId, targets: targetNodes, policy, privateKey, progress: io.stderr });
  } finally {
    await gateway.close();
  }
  const { size } = manifest;
  io.stdout.write(flags.json === true ? `${JSON.stringify(manifest)}\n`
    : `published ${updateId}: version ${version}, ${size} bytes, ${manifest.checksum}, ${targetNodes.length} target(s)\n`);
  return 0;
}
