// `coap-fleet keys revoke` and `keys revoked`: through the gateway as an operator, flags in,
// src/operator/revocations.ts, the entry (and the sessions it ended) or the list out.

import type { RevocationRecord } from '../fleet/revocation.js';
import { CredentialsError } from '../operator/errors.js';
import { openGateway } from '../operator/gateway-client.js';
import { listRevocations, revokeCertificate, serialOfCertificateFile } from '../operator/revocations.js';
import { formatFlags, parseArgs } from './args.js';
import { UsageError } from './errors.js';
import { GATEWAY_FLAGS, gatewayOptions } from './gateway-flags.js';
import { formatTable, type CliIo } from './output.js';

const REVOKE_FLAGS = {
  serial: { type: 'string', value: 'HEX', description: 'the certificate\'s serial number' },
  certificate: { type: 'string', value: 'FILE', description: 'the certificate (PEM) whose serial to revoke' },
  subject: { type: 'string', value: 'node:ID|operator:NAME', description: 'every certificate of this principal' },
  reason: { type: 'string', value: 'TEXT', description: 'why (kept in the list and the audit log)' },
  json: { type: 'boolean', description: 'print the gateway\'s JSON' },
  ...GATEWAY_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'this help' },
} as const;

export const keysRevokeUsage = (): string => 'Usage: coap-fleet keys revoke (--serial HEX | --certificate FILE | --subject node:ID) [--reason TEXT] [--gateway URI] [credentials]\n'
  + '       coap-fleet keys revoked [--json] [--gateway URI] [credentials]\n\n'
  + 'Adds to the gateway\'s revocation list (as an operator): it refuses the certificate at every\n'
  + 'later handshake and ends its live sessions at once. revoked lists the entries.\n\n'
  + `Options:\n${formatFlags(REVOKE_FLAGS)}`;

function revocationsTable(entries: readonly RevocationRecord[]): string {
  if (entries.length === 0) return 'no revocations\n';
  return formatTable([['KIND', 'VALUE', 'REVOKED AT', 'BY', 'REASON'], ...entries.map((entry) => [entry.kind, entry.value, entry.revoked_at, entry.by, entry.reason ?? '-'])]);
}

export async function runRevokeCommand(list: boolean, argv: readonly string[], io: CliIo): Promise<number> {
  const { flags, positionals } = parseArgs(argv, REVOKE_FLAGS);
  if (flags.help === true) {
    io.stdout.write(keysRevokeUsage());
    return 0;
  }
  if (positionals.length !== 0) throw new UsageError(`unexpected ${positionals.join(' ')}`);
  const named = [flags.serial, flags.certificate, flags.subject].filter((value) => value !== undefined);
  if (!list && named.length !== 1) throw new UsageError('give one of --serial HEX, --certificate FILE, --subject node:ID');
  if (list && named.length !== 0) throw new UsageError('keys revoked takes no --serial, --certificate or --subject');
  const serial = flags.certificate === undefined ? flags.serial : await serialOfCertificateFile(flags.certificate).catch((error: unknown) => {
    throw error instanceof CredentialsError ? new UsageError(`--certificate: ${error.message}`, { cause: error }) : error;
  });
  const gateway = await openGateway(await gatewayOptions(flags));
  try {
    if (list) {
      const entries = await listRevocations(gateway);
      io.stdout.write(flags.json === true ? `${JSON.stringify({ revocations: entries })}\n` : revocationsTable(entries));
      return 0;
    }
    const result = await revokeCertificate(gateway, {
      ...(serial === undefined ? {} : { serial }), ...(flags.subject === undefined ? {} : { subject: flags.subject }),
      ...(flags.reason === undefined ? {} : { reason: flags.reason }),
    });
    io.stdout.write(flags.json === true ? `${JSON.stringify(result)}\n`
      : `revoked ${result.revocation.kind} ${result.revocation.value}; ${result.sessions_ended} live session(s) ended\n`);
    return 0;
  } finally {
    await gateway.close();
  }
}
