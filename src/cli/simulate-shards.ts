// How `coap-fleet simulate` spreads its virtual nodes: which node runs in which worker
// process, from which loopback address (every node its own, counted up from a base across
// 127.0.0.0/8, where Linux answers every address on `lo`), with which seed. Pure.

import { UsageError } from './errors.js';

export interface NodeAssignment {
  /** Position in the fleet, 0-based: seeds its loss and figures. */
  readonly index: number;
  readonly nodeId: string;
  readonly identity: string;
  readonly keyHex: string;
  /** The address its socket binds. */
  readonly host: string;
}

const LOOPBACK_FIRST = 0x7f00_0001;
const LOOPBACK_LAST = 0x7fff_fffe;

function ipv4Number(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) return undefined;
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

const ipv4Text = (value: number): string => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');

/** `count` addresses from `base` on, skipping the x.x.x.0 and x.x.x.255 of each /24 (a
 * network's and its broadcast address elsewhere, and confusing in a log). */
export function loopbackAddresses(base: string, count: number): string[] {
  const start = ipv4Number(base);
  if (start === undefined || start < LOOPBACK_FIRST || start > LOOPBACK_LAST) throw new UsageError(`--base-address ${base}: an IPv4 address in 127.0.0.0/8`);
  const addresses: string[] = [];
  for (let value = start; addresses.length < count; value++) {
    if (value > LOOPBACK_LAST) throw new UsageError(`--base-address ${base}: not room for ${count} addresses before 127.255.255.254`);
    const last = value % 256;
    if (last !== 0 && last !== 255) addresses.push(ipv4Text(value));
  }
  return addresses;
}

/** The node id of a PSK identity `node:ID`; undefined for another principal. */
export const nodeIdOf = (identity: string): string | undefined => (identity.startsWith('node:') ? identity.slice('node:'.length) : undefined);

/** The first `count` node credentials of `table` (identity to hex key, in file order),
 * dealt round-robin to `workers` shards (fewer when there are fewer nodes). */
export function planShards(table: ReadonlyMap<string, string>, count: number, workers: number, baseAddress: string): NodeAssignment[][] {
  const nodes = [...table].filter(([identity]) => nodeIdOf(identity) !== undefined).slice(0, count);
  if (nodes.length < count) throw new UsageError(`--nodes ${count}: the credentials file holds ${nodes.length} node identities`);
  const addresses = loopbackAddresses(baseAddress, count);
  const shards: NodeAssignment[][] = Array.from({ length: Math.max(1, Math.min(workers, count)) }, () => []);
  nodes.forEach(([identity, keyHex], index) => {
    shards[index % shards.length]!.push({ index, nodeId: nodeIdOf(identity)!, identity, keyHex, host: addresses[index]! });
  });
  return shards;
}
