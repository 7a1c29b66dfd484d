// Summarizes a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self
// time, the most inclusive time, and self time per source file, so that a benchmark's
// "where does the time go" fits on one screen.
// `node dist/bench/macro/cpu-profile.js FILE.cpuprofile [top=25] [filter]`; the optional
// filter keeps only rows whose url contains it (e.g. `src/protocol`).

import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** `name (file:line)`, with the url shortened to the part after dist/ or node_modules/. */
function frameKey(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '');
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  // V8 line numbers are 0-based.
  return url === '' ? name : `${name} (${url}:${frame.lineNumber + 1})`;
}

function fileKey(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '');
  return url === '' ? `(${frame.functionName || 'native'})` : url;
}

export function summarize(profile: CpuProfile, top: number, filter: string | undefined): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const perFile = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    // The delta before a sample is the time that sample stands for (V8's convention).
    const micros = profile.timeDeltas[index] ?? 0;
    total += micros;
    const node = byId.get(id)!;
    const key = frameKey(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + micros);
    perFile.set(fileKey(node.callFrame), (perFile.get(fileKey(node.callFrame)) ?? 0) + micros);
    // Each function once per sample, however often it recurses on the stack.
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frameName = frameKey(byId.get(current)!.callFrame);
      if (seen.has(frameName)) continue;
      seen.add(frameName);
      inclusive.set(frameName, (inclusive.get(frameName) ?? 0) + micros);
    }
  });

  const table = (title: string, values: Map<string, number>): string => {
    const rows = [...values]
      .filter(([key]) => filter === undefined || key.includes(filter))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, micros]) => `${(micros / 1000).toFixed(0).padStart(8)} ms ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${key}`);
    return `${title}\n${rows.join('\n')}\n`;
  };
  return [
    `total ${(total / 1000).toFixed(0)} ms in ${profile.samples.length} samples\n`,
    table('self time', self),
    table('inclusive time', inclusive),
    table('self time by file', perFile),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top, filter] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/macro/cpu-profile.js FILE.cpuprofile [top=25] [filter]\n');
    process.exitCode = 2;
  } else {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(summarize(profile, Number(top ?? 25), filter));
  }
}
