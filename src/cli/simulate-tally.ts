// The simulator's own counters, summed: a worker sums its nodes', the parent sums its
// workers'. Error kinds stay bounded (the nodes bound theirs; the sum keeps the most
// frequent). Pure.

import type { NodeCounters, NodeCounts } from '../agent/simulated-node.js';

const MAX_ERROR_KINDS = 16;

export interface Tally extends NodeCounts {
  /** Nodes running, and those that could not start (a socket that would not bind). */
  started: number;
  startFailures: number;
  registered: number;
  /** The slowest first registration among the registered nodes (ms from its start). */
  lastFirstRegistrationMs: number;
  /** Resident memory of the simulator's worker processes, MiB. */
  rssMiB: number;
}

export const emptyTally = (): Tally => ({
  started: 0, startFailures: 0, registered: 0, lastFirstRegistrationMs: 0, registrations: 0, registrationRetries: 0,
  healthSamples: 0, healthReports: 0, healthReportsFailed: 0, handshakes: 0, handshakeFailures: 0, installed: 0, installFailed: 0, errors: {}, rssMiB: 0,
});

/** The most frequent kinds, the rest summed under "other". */
function boundErrors(errors: Record<string, number>): Record<string, number> {
  const kinds = Object.entries(errors).sort(([, a], [, b]) => b - a);
  if (kinds.length <= MAX_ERROR_KINDS) return Object.fromEntries(kinds);
  const kept = Object.fromEntries(kinds.slice(0, MAX_ERROR_KINDS - 1));
  const rest = kinds.slice(MAX_ERROR_KINDS - 1).reduce((sum, [, n]) => sum + n, 0);
  return { ...kept, other: (kept.other ?? 0) + rest };
}

function mergeErrors(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [kind, n] of Object.entries(from)) into[kind] = (into[kind] ?? 0) + n;
}

/** A worker's tally of its running nodes. */
export function tallyNodes(nodes: readonly NodeCounters[], startFailures: number, rssMiB: number): Tally {
  const tally = emptyTally();
  tally.rssMiB = rssMiB;
  tally.started = nodes.length;
  tally.startFailures = startFailures;
  for (const node of nodes) {
    if (node.registered) {
      tally.registered++;
      tally.lastFirstRegistrationMs = Math.max(tally.lastFirstRegistrationMs, node.firstRegisteredMs);
    }
    tally.registrations += node.registrations;
    tally.registrationRetries += node.registrationRetries;
    tally.healthSamples += node.healthSamples;
    tally.healthReports += node.healthReports;
    tally.healthReportsFailed += node.healthReportsFailed;
    tally.handshakes += node.handshakes;
    tally.handshakeFailures += node.handshakeFailures;
    tally.installed += node.installed;
    tally.installFailed += node.installFailed;
    mergeErrors(tally.errors, node.errors);
  }
  tally.errors = boundErrors(tally.errors);
  return tally;
}

/** The fleet's tally from its workers'. */
export function sumTallies(tallies: readonly Tally[]): Tally {
  const total = emptyTally();
  for (const tally of tallies) {
    for (const key of Object.keys(total) as (keyof Tally)[]) {
      if (key === 'errors') mergeErrors(total.errors, tally.errors);
      else if (key === 'lastFirstRegistrationMs') total[key] = Math.max(total[key], tally[key]);
      else total[key] += tally[key];
    }
  }
  total.errors = boundErrors(total.errors);
  return total;
}
