// What `coap-fleet publish --dry-run` prints for people: one row per target (would it
// pass, its wave, its version and install system, the room it needs and has, the
// estimated download time) with every reason it would fail, every warning and when its
// window opens if it is closed now; then why the gateway would refuse the update itself,
// if it would, and a summary line. Scripts take the report as JSON (DryRunReport).

import type { DryRunReport, NodeVerdict } from '../operator/dry-run.js';
import { safe } from './node-tables.js';
import { formatTable } from './output.js';
import { formatBytes } from './progress.js';

export function formatDryRun(report: DryRunReport): string {
  const rows = [['NODE', 'RESULT', 'WAVE', 'VERSION', 'SYSTEM', 'NEEDS/USABLE', 'DOWNLOAD', 'WHY'], ...report.nodes.map(verdictCells)];
  const table = report.nodes.length === 0 ? '' : formatTable(rows);
  const update = [...report.update_failures, ...report.update_warnings.map((warning) => `warning: ${warning}`)].map((line) => `${safe(line)}\n`).join('');
  return `${table}${update}dry run of ${safe(report.version)} (${formatBytes(report.image_bytes)}) on ${report.nodes.length} target(s): `
    + `${report.passed} would pass, ${report.failed} would fail; nothing was signed or uploaded\n`;
}

// ---- pure ---------------------------------------------------------------------------

function verdictCells(node: NodeVerdict): string[] {
  const room = node.needed_bytes === null || node.usable_bytes === null ? '-' : `${formatBytes(node.needed_bytes)}/${formatBytes(node.usable_bytes)}`;
  const why = [
    ...node.failures, ...node.warnings.map((warning) => `warning: ${warning}`),
    ...(node.window_opens_at === null ? [] : [`installs once its window opens, ${node.window_opens_at}`]),
  ];
  return [
    safe(node.node_id), node.pass ? 'pass' : 'FAIL', node.wave === null ? '-' : String(node.wave), node.version === null ? '-' : safe(node.version), node.install_system ?? '-',
    room, node.estimated_download_s === null ? '-' : duration(node.estimated_download_s), why.map(safe).join('; '),
  ];
}

/** 4.2 → "4 s", 600 → "10 min", 7200 → "2.0 h". */
function duration(seconds: number): string {
  if (seconds < 120) return `${Math.max(1, Math.round(seconds))} s`;
  return seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}
