// `coap-fleet keys ca init` and `keys issue`: flags in, src/operator's fleet CA
// (certificate-authority.ts) out, the files written listed.

import { initCertificateAuthority, issueFor, type IssueTarget } from '../operator/certificate-authority.js';
import { InvalidIdError, KeysExistError } from '../operator/errors.js';
import { formatFlags, parseArgs, parseNumber } from './args.js';
import { UsageError } from './errors.js';
import type { CliIo } from './output.js';

const MAX_DAYS = 36_500;

const CA_FLAGS = {
  'ca-dir': { type: 'string', value: 'DIR', description: 'the CA\'s directory (created 0700 if missing)' },
  intermediate: { type: 'boolean', description: 'also an intermediate CA that does the issuing (the root key can then go offline)' },
  name: { type: 'string', value: 'NAME', description: 'the CA\'s name in its subject (default "coap-fleet CA")' },
  days: { type: 'string', value: 'N', description: 'validity in days (default 3650)' },
  force: { type: 'boolean', description: 'overwrite existing files' },
  json: { type: 'boolean', description: 'print what was written as JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

const ISSUE_FLAGS = {
  'ca-dir': { type: 'string', value: 'DIR', description: 'the CA\'s directory (from keys ca init)' },
  node: { type: 'string', value: 'ID', description: 'a node\'s certificate (CN=node:ID)' },
  operator: { type: 'string', value: 'NAME', description: 'an operator\'s certificate (CN=operator:NAME)' },
  gateway: { type: 'string', value: 'HOST[,HOST]', description: 'the gateway\'s certificate, its names (DNS or IP) in the SAN' },
  out: { type: 'string', value: 'DIR', description: 'where the .crt and .key go (default the CA directory)' },
  days: { type: 'string', value: 'N', description: 'validity in days (default 365)' },
  force: { type: 'boolean', description: 'overwrite existing files' },
  json: { type: 'boolean', description: 'print what was written as JSON' },
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const keysCertificatesUsage = (): string => 'Usage: coap-fleet keys ca init --ca-dir DIR [--intermediate] [--days N]\n'
  + '       coap-fleet keys issue --ca-dir DIR (--node ID | --operator NAME | --gateway HOST[,HOST]) [--out DIR] [--days N]\n\n'
  + 'ca init writes ca.crt (the trust anchor: every daemon\'s ca_file) and ca.key (0600), and with\n'
  + '--intermediate intermediate.crt / intermediate.key, which then sign what keys issue makes.\n'
  + 'issue writes node-ID, operator-NAME or gateway .crt (with the intermediate after it) and .key (0600).\n\n'
  + `ca init options:\n${formatFlags(CA_FLAGS)}\nissue options:\n${formatFlags(ISSUE_FLAGS)}`;

function blameFlag(error: unknown): unknown {
  if (error instanceof KeysExistError) return new UsageError(`${error.message}: use --force to overwrite`, { cause: error });
  if (error instanceof InvalidIdError) return new UsageError(error.message, { cause: error });
  return error;
}

const days = (text: string | undefined, fallback: number): number =>
  parseNumber(text ?? String(fallback), 'days', { min: 1, max: MAX_DAYS, integer: true });

export async function runCaInitCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, CA_FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysCertificatesUsage());
    return 0;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  if (flags['ca-dir'] === undefined) throw new UsageError('--ca-dir DIR is required');
  const files = await initCertificateAuthority(flags['ca-dir'], {
    intermediate: flags.intermediate === true, days: days(flags.days, 3650), overwrite: flags.force === true,
    ...(flags.name === undefined ? {} : { name: flags.name }),
  }).catch((error: unknown) => { throw blameFlag(error); });
  io.stdout.write(flags.json === true ? `${JSON.stringify({ files })}\n` : `${files.join('\n')}\n`);
  return 0;
}

export async function runIssueCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ISSUE_FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysCertificatesUsage());
    return 0;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  const caDirectory = flags['ca-dir'];
  if (caDirectory === undefined) throw new UsageError('--ca-dir DIR is required');
  const targets: IssueTarget[] = [
    ...(flags.node === undefined ? [] : [{ kind: 'node', id: flags.node } as const]),
    ...(flags.operator === undefined ? [] : [{ kind: 'operator', name: flags.operator } as const]),
    ...(flags.gateway === undefined ? [] : [{ kind: 'gateway', hosts: flags.gateway.split(',').map((host) => host.trim()) } as const]),
  ];
  if (targets.length !== 1) throw new UsageError('give one of --node ID, --operator NAME, --gateway HOST');
  const issued = await issueFor(caDirectory, targets[0]!, {
    days: days(flags.days, 365), outDirectory: flags.out ?? caDirectory, overwrite: flags.force === true,
  }).catch((error: unknown) => { throw blameFlag(error); });
  const { summary } = issued;
  io.stdout.write(flags.json === true
    ? `${JSON.stringify({ certificate_file: issued.certificateFile, key_file: issued.keyFile, subject: summary.subject, serial: summary.serial, not_after: summary.notAfter.toISOString() })}\n`
    : `${issued.certificateFile}\n${issued.keyFile}\nsubject ${summary.subject}, serial ${summary.serial}, valid until ${summary.notAfter.toISOString()}\n`);
  return 0;
}
