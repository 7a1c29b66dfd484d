// The dashboard page in a real browser (Debian's chromium through playwright-core) against
// a stand-in for the gateway's dashboard side (test/helpers/dashboard-stand-in.ts; the
// dash-server branch builds the real one in parallel, and test/e2e/dashboard.test.ts runs
// against it): login, the Fleet's paging, sorting and filtering over 60 nodes with their
// sparklines, a node's charts and followed logs, a rollout's progress pushed live, an
// alert acknowledged, and the narrow phone layout. Screenshots go to artifacts/dashboard/.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { ARTIFACTS, browserMissing, openBrowser, screenshot, type Browser } from '../helpers/browser.js';
import { DashboardStandIn, STAND_IN_TOKEN } from '../helpers/dashboard-stand-in.js';

const page = suite<{ standIn: DashboardStandIn; browser: Browser }>('dashboard page (stand-in gateway)');
const missing = browserMissing();
const NODES = 60;
const id = (index: number) => `node-${String(index).padStart(2, '0')}`;
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

function sample(index: number, minutesAgo: number) {
  return {
    at: at(minutesAgo), cpu_percent: 20 + 15 * Math.sin((index + minutesAgo) / 4), memory_total_bytes: 1e9, memory_available_bytes: 5e8,
    memory_percent: 40 + 10 * Math.cos((index + minutesAgo) / 6), load: [0.4, 0.3, 0.2], temperature: 45 + (minutesAgo % 5), uptime_s: 3600, disks: [], network: [],
  };
}

function fill(standIn: DashboardStandIn): void {
  const nodes = Array.from({ length: NODES }, (_, index) => ({
    node_id: id(index), version: index % 7 === 0 ? '1.0.0' : '1.1.0', hardware: 'rpi4', agent_port: 5683, registered_at: at(600), last_seen: at(index % 3),
    online: index % 11 !== 5, health: { status: index % 13 === 4 ? 'degraded' : 'healthy', cpu_percent: 20, memory_percent: 40, temperature: 45, uptime_s: 3600, timestamp: at(0) },
    link: null, tags: index % 2 === 0 ? ['lab', 'even'] : ['lab'],
  }));
  standIn.set('/nodes', { nodes });
  for (let index = 0; index < NODES; index++) {
    standIn.set(`/nodes/${id(index)}/metrics?limit=30`, { node_id: id(index), interval_s: 60, samples: Array.from({ length: 30 }, (_, minute) => sample(index, 30 - minute)) });
  }
  standIn.set('/nodes/node-01', nodes[1]);
  standIn.set('/nodes/node-01/metrics', { node_id: 'node-01', interval_s: 60, samples: Array.from({ length: 60 }, (_, minute) => sample(1, 60 - minute)) });
  standIn.set('/nodes/node-01/services', { node_id: 'node-01', services: [{ name: 'app.service', description: 'The application', active_state: 'active', sub_state: 'running', since: at(50), restarts: 0 }] });
  standIn.set('/nodes/node-01/logs?lines=100', { node_id: 'node-01', truncated: false, entries: [{ at: at(2), unit: 'app.service', priority: 6, message: 'started' }] });
  standIn.set('/nodes/node-01/system/config', { node_id: 'node-01', settings: { metrics_interval_s: 60, allowed_units: ['app.service'] }, live: ['metrics_interval_s'] });
  const update = {
    update_id: 'u-1.2.0', version: '1.2.0', size: 1000, checksum: 'sha256:00', target_nodes: [id(0), id(1), id(2)], policy: { canary: 1, max_parallel_installs: 2, failure_threshold: 2 },
    rollout: 'active', image_ready: true, created_at: at(5), operator_state: 'active', created_by: 'operator:admin', targets: 3,
    counts: { pending: 2, downloading: 1, downloaded: 0, installing: 0, installed: 0, failed: 0, rolled_back: 0 },
  };
  standIn.set('/updates?limit=100', { updates: [update], next: null });
  standIn.set('/updates/u-1.2.0', update);
  standIn.set('/updates/u-1.2.0/status', { update_id: 'u-1.2.0', rollout: 'active', counts: update.counts, nodes: {
    [id(0)]: { state: 'downloading', progress: 0.4, error: null, updated_at: at(1) }, [id(1)]: { state: 'pending', progress: 0, error: null, updated_at: at(5) }, [id(2)]: { state: 'pending', progress: 0, error: null, updated_at: at(5) },
  } });
  standIn.set('/alerts', { alerts: [{ id: 'a1', node_id: id(5), kind: 'offline', severity: 'critical', raised_at: at(3), cleared_at: null, acknowledged_by: null, detail: 'no report for 90 s' }] });
  standIn.set('/audit?limit=50', { entries: [{ key: 2, at: at(5), who: 'operator:admin', action: 'update.create', target: '/updates/u-1.2.0' }], next: null });
}

page.before(async (context) => {
  if (missing !== undefined) return;
  context.standIn = await DashboardStandIn.start();
  fill(context.standIn);
  context.browser = await openBrowser();
});

page.after(async (context) => {
  await context.browser?.close();
  await context.standIn?.close();
});

const run = missing === undefined ? page : page.skip;
if (missing !== undefined) process.stderr.write(`\n*** ${missing} ***\n\n`);

run('a wrong token is refused on the page; the right one shows the fleet, a page of rows with sparklines', async ({ standIn, browser: { page: tab } }) => {
  await tab.goto(standIn.url);
  await tab.getByLabel('Operator token').fill('not-the-token');
  await tab.getByRole('button', { name: 'Log in' }).click();
  await tab.getByRole('alert').filter({ hasText: 'unknown token' }).waitFor();
  await tab.getByLabel('Operator token').fill(STAND_IN_TOKEN);
  await tab.getByRole('button', { name: 'Log in' }).click();
  await tab.getByText(`${NODES} nodes,`).waitFor();
  await tab.locator('[data-testid=connection]', { hasText: 'live' }).waitFor();
  assert.is(await tab.locator('table.fleet tbody tr').count(), 25);
  await tab.locator('table.fleet tbody tr').first().getByRole('img', { name: /CPU: 30 samples/ }).waitFor();
  // Only the visible rows observe their metrics.
  assert.is(standIn.observed(`/nodes/${id(0)}/metrics?limit=30`), 1);
  assert.is(standIn.observed(`/nodes/${id(40)}/metrics?limit=30`), 0);
  await screenshot(tab, 'fleet');
  // The README's picture (docs/dashboard.png is a copy): the first rows at a small size.
  await tab.setViewportSize({ width: 1024, height: 560 });
  await tab.screenshot({ path: join(ARTIFACTS, 'readme.png') });
  await tab.setViewportSize({ width: 1280, height: 800 });
});

run('the Fleet sorts, filters and pages', async ({ browser: { page: tab } }) => {
  await tab.getByRole('button', { name: 'Node' }).click();
  await tab.locator('table.fleet tbody tr').first().getByRole('link', { name: id(NODES - 1) }).waitFor();
  await tab.getByRole('button', { name: 'Next' }).click();
  await tab.getByText('Page 2 of 3', { exact: true }).waitFor();
  await tab.getByLabel('Filter').fill('1.0.0');
  await tab.getByText('9 shown by the filter').waitFor();
  assert.is(await tab.locator('table.fleet tbody tr').count(), 9);
  await tab.getByLabel('Filter').fill('');
});

run('a node: facts, charts, services and logs that follow', async ({ standIn, browser: { page: tab } }) => {
  await tab.goto(`${standIn.url}#/node/node-01`);
  await tab.getByRole('heading', { name: 'Node node-01' }).waitFor();
  await tab.locator('.chart canvas').first().waitFor();
  await tab.getByRole('log').getByText('started').waitFor();
  standIn.set('/nodes/node-01/logs?lines=100', { node_id: 'node-01', truncated: false, entries: [{ at: at(0), unit: 'app.service', priority: 3, message: 'a new line arrived' }] });
  await tab.getByRole('log').getByText('a new line arrived').waitFor();
  assert.is(await tab.getByRole('log').locator('li').count(), 2);
  // The connection cut (a gateway restart): the page says so, connects again and observes
  // the logs again, so a line after the cut still arrives.
  standIn.dropConnections();
  await tab.getByTestId('connection').getByText('disconnected, retrying').waitFor();
  await tab.getByTestId('connection').getByText('live').waitFor();
  standIn.set('/nodes/node-01/logs?lines=100', { node_id: 'node-01', truncated: false, entries: [{ at: at(0), unit: 'app.service', priority: 6, message: 'a line after the reconnection' }] });
  await tab.getByRole('log').getByText('a line after the reconnection').waitFor();
  assert.is(standIn.observed('/nodes/node-01/logs?lines=100'), 1, 'one observation of the logs after the reconnection');
  // The new registration's first answer replaced the lines shown; none is shown twice.
  assert.is(await tab.getByRole('log').getByText('a new line arrived').count(), 1);
  await tab.getByRole('button', { name: 'restart' }).click();
  await tab.getByText('coap-fleet node node-01 service app.service restart').waitFor();
  await screenshot(tab, 'node');
});

run('a rollout reaches 100 % live; pause sends PUT state', async ({ standIn, browser: { page: tab } }) => {
  await tab.goto(`${standIn.url}#/rollouts/u-1.2.0`);
  await tab.getByTestId('rollout-percent').getByText('0 %').waitFor();
  const done = { pending: 0, downloading: 0, downloaded: 0, installing: 0, installed: 3, failed: 0, rolled_back: 0 };
  const detail = { update_id: 'u-1.2.0', version: '1.2.0', size: 1000, checksum: 'sha256:00', target_nodes: [id(0), id(1), id(2)], policy: { canary: 1, max_parallel_installs: 2, failure_threshold: 2 },
    rollout: 'completed', image_ready: true, created_at: at(5), operator_state: 'active', created_by: 'operator:admin', targets: 3, counts: done };
  await tab.getByRole('button', { name: 'Pause' }).click();
  assert.equal(standIn.requests.at(-1), { method: 3, path: '/updates/u-1.2.0', body: { state: 'paused' } });
  standIn.set('/updates/u-1.2.0', detail);
  await tab.getByTestId('rollout-percent').getByText('100 % (3 of 3)').waitFor();
  await tab.getByTestId('rollout-state').getByText('completed').waitFor();
  await screenshot(tab, 'rollout');
});

run('an alert is acknowledged with PUT /alerts/{id}', async ({ standIn, browser: { page: tab } }) => {
  await tab.goto(`${standIn.url}#/alerts`);
  await tab.getByRole('button', { name: `Acknowledge offline on ${id(5)}` }).click();
  await tab.getByText('by you').waitFor();
  assert.equal(standIn.requests.at(-1), { method: 3, path: '/alerts/a1', body: { acknowledged: true } });
  await screenshot(tab, 'alerts');
  await tab.goto(`${standIn.url}#/audit`);
  await tab.getByText('update.create').waitFor();
});

run('a row keeps its alert when a newer one is put above it: its button, found before, acknowledges that alert', async ({ standIn, browser: { page: tab } }) => {
  const older = { id: 'a2', node_id: id(7), kind: 'disk_high', mount: '/', severity: 'warning', raised_at: at(2), cleared_at: null, acknowledged_by: null, detail: 'disk / used_percent 95 > 90' };
  standIn.set('/alerts', { alerts: [older] });
  await tab.goto(`${standIn.url}#/alerts`);
  const button = await tab.getByRole('button', { name: `Acknowledge disk_high on ${id(7)}` }).elementHandle();
  // Newest first: the new alert takes the first row, where the older one was.
  standIn.set('/alerts', { alerts: [{ ...older, id: 'a3', node_id: id(8), raised_at: at(0) }, older] });
  await tab.getByRole('button', { name: `Acknowledge disk_high on ${id(8)}` }).waitFor();
  await button!.click();
  await tab.getByText('by you').waitFor();
  assert.equal(standIn.requests.at(-1), { method: 3, path: '/alerts/a2', body: { acknowledged: true } });
});

run('2,000 nodes come block-wise (Block2 fallback) and still render one page of rows; a filter answers at once', async ({ standIn, browser: { page: tab } }) => {
  const many = Array.from({ length: 2000 }, (_, index) => ({
    node_id: `bulk-${String(index).padStart(4, '0')}`, version: index % 100 === 0 ? '0.9.0' : '1.1.0', hardware: 'rpi4', agent_port: 5683, registered_at: at(600), last_seen: at(1),
    online: true, health: null, link: null, tags: ['bulk'],
  }));
  await tab.goto(`${standIn.url}#/fleet`);
  await tab.getByText(`${NODES} nodes,`).waitFor();
  const before = standIn.blocksServed;
  const started = Date.now();
  standIn.set('/nodes', { nodes: many });
  await tab.getByText('2000 nodes, 2000 online').waitFor();
  const shownMs = Date.now() - started;
  assert.ok(standIn.blocksServed - before > 100, `the list came in ${standIn.blocksServed - before} blocks`);
  assert.is(await tab.locator('table.fleet tbody tr').count(), 25);
  const filterStarted = Date.now();
  await tab.getByLabel('Filter').fill('0.9.0');
  await tab.getByText('20 shown by the filter').waitFor();
  console.log(`2000 nodes: shown ${shownMs} ms after the notification (${standIn.blocksServed - before} blocks of 1 KiB), filtered in ${Date.now() - filterStarted} ms`);
  await tab.getByLabel('Filter').fill('');
  fill(standIn);
});

run('on a 390x844 phone the fleet fits the width; no console or CSP errors anywhere', async ({ standIn, browser }) => {
  await browser.page.setViewportSize({ width: 390, height: 844 });
  await browser.page.goto(`${standIn.url}#/fleet`);
  await browser.page.getByText(`${NODES} nodes,`).waitFor();
  const overflow = await browser.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
  assert.ok(overflow <= 0, `page wider than the phone by ${overflow} px`);
  await screenshot(browser.page, 'fleet-phone');
  // 401s are the session probe before login and the wrong token, both on purpose.
  assert.equal(browser.problems.filter((problem) => !problem.includes('status of 401')), []);
});

page.run();
