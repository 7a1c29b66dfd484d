// Dashboard login tokens (issue 15): `keys generate` writes the secret for an operator
// (dashboard-token-NAME.txt, 0600) and its SHA-256 beside the other gateway credentials
// (dashboard-tokens.json); the gateway keeps only the hashes and maps a token to the
// operator's principal, the same one its DTLS identity names, so one access table and one
// audit apply. A token is 256 random bits: a plain hash is enough (no guessing to slow).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { principalFromIdentity } from './identity.js';
import { FleetError } from './errors.js';

export const DASHBOARD_TOKENS_FILE = 'dashboard-tokens.json';
export const dashboardTokenFile = (operator: string): string => `dashboard-token-${operator}.txt`;

/** One entry of dashboard-tokens.json: `{"principal": "operator:NAME", "sha256": HEX}`. */
export interface DashboardTokenEntry {
  readonly principal: string;
  readonly sha256: string;
}

export class DashboardTokensError extends FleetError {
  constructor(message: string) {
    super('FLEET_ERR_DASHBOARD_TOKENS', message);
  }
}

/** A fresh token: 256 random bits, base64url (43 characters). */
export const newDashboardToken = (): string => randomBytes(32).toString('base64url');

export const hashDashboardToken = (token: string): string => createHash('sha256').update(token.trim(), 'utf8').digest('hex');

/** The file's text for these entries. */
export const formatDashboardTokens = (entries: readonly DashboardTokenEntry[]): string =>
  `${JSON.stringify({ tokens: entries }, null, 2)}\n`;

/** The entries of a dashboard-tokens.json, every one an operator's. */
export function parseDashboardTokens(text: string): DashboardTokenEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DashboardTokensError(`not JSON: ${(error as Error).message}`);
  }
  const tokens = (parsed as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens)) throw new DashboardTokensError('expected {"tokens": [{"principal": "operator:NAME", "sha256": HEX}, …]}');
  return tokens.map((entry: unknown, index) => {
    const { principal, sha256 } = (entry ?? {}) as { principal?: unknown; sha256?: unknown };
    if (typeof principal !== 'string' || principalFromIdentity(principal)?.role !== 'operator') {
      throw new DashboardTokensError(`tokens[${index}]: principal must be "operator:NAME"`);
    }
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw new DashboardTokensError(`tokens[${index}]: sha256 must be 64 lowercase hex digits`);
    return { principal, sha256 };
  });
}

/** The principal a token logs in as, or undefined. Every entry is compared, in constant
 * time, so the answer's timing tells nothing of which hash came close. */
export function principalOfToken(entries: readonly DashboardTokenEntry[], token: string): string | undefined {
  const hash = Buffer.from(hashDashboardToken(token), 'hex');
  let found: string | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(hash, Buffer.from(entry.sha256, 'hex')) && found === undefined) found = entry.principal;
  }
  return found;
}
