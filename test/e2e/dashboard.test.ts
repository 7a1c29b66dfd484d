// The dashboard end to end (issue 15): the real gateway (`coap-fleet server
// --dashboard-port 0`) and three real agents over DTLS on loopback, and the page in
// Debian's chromium (playwright-core). A foreign Origin and a missing session are refused
// at login and at the WebSocket upgrade; a wrong token is refused on the page; the right
// one (keys generate's dashboard-token-admin.txt) shows the nodes; a rollout published
// meanwhile reaches 100 % on the page, live; an alert is acknowledged from the page and the
// gateway records who; a node's logs follow a line appended on the node. Screenshots of the
// main views go to artifacts/dashboard/, and the cold load's weight is printed.
import { request as httpRequest } from 'node:http';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AlertView } from '../../src/fleet/views.js';
import { dashboardTokenFile } from '../../src/fleet/dashboard-tokens.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { browserMissing, coldLoadWeight, openBrowser, screenshot, type Browser } from '../helpers/browser.js';
import { Fleet, request } from '../helpers/fleet.js';
import { startRemoteNode, type RemoteNode } from '../helpers/remote-node.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const ROLLOUT_TIMEOUT_MS = 120_000;

interface Context {
  fleet: Fleet;
  browser: Browser;
  nodes: RemoteNode[];
  url: string;
  token: string;
}

const dashboard = suite<Context>('dashboard end to end');
const missing = browserMissing();
if (missing !== undefined) process.stderr.write(`\n*** ${missing} ***\n\n`);
const run = missing === undefined ? dashboard : dashboard.skip;

dashboard.before(async (context) => {
  if (missing !== undefined) return;
  context.fleet = await Fleet.create({ name: 'dashboard', nodeIds: NODES });
  await context.fleet.startGateway({ dashboard: true });
  context.nodes = [];
  for (const node of NODES) context.nodes.push(await startRemoteNode(context.fleet, node, { metrics_interval_s: 1 }));
  await context.fleet.waitForNodes(NODES, 30_000);
  assert.ok(context.fleet.dashboardPort !== undefined, 'the ready file names the dashboard port');
  context.url = `http://127.0.0.1:${context.fleet.dashboardPort}/`;
  context.token = (await readFile(join(context.fleet.keysDir, dashboardTokenFile('admin')), 'utf8')).trim();
  context.browser = await openBrowser();
});

dashboard.after(async (context) => {
  await context.browser?.close();
  if (context.fleet !== undefined) {
    // The wrong token of the page test is refused on purpose.
    const unexpected = context.fleet.unexpectedLines([/dashboard: login refused/]);
    await context.fleet.close();
    assert.equal(unexpected, [], 'no unexpected warnings in the daemons\' logs');
  }
});

/** The status of a WebSocket upgrade of /.well-known/coap: 101 when accepted. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(new URL('/.well-known/coap', url), {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'coap', ...headers },
    });
    request.on('upgrade', (response, socket) => { socket.destroy(); resolve(response.statusCode ?? 0); });
    request.on('response', (response) => { response.resume(); resolve(response.statusCode ?? 0); });
    request.on('error', reject);
    request.end();
  });
}

run('a foreign Origin is refused at login and at the upgrade; no session, no upgrade', async ({ url, token }) => {
  const origin = url.replace(/\/$/, '');
  const foreign = await fetch(new URL('/api/login', url), { method: 'POST', headers: { Origin: 'http://evil.example', 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
  assert.is(foreign.status, 403, 'login from a foreign origin');
  const good = await fetch(new URL('/api/login', url), { method: 'POST', headers: { Origin: origin, 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
  assert.is(good.status, 204, 'login from the dashboard\'s origin');
  const cookie = (good.headers.get('set-cookie') ?? '').split(';')[0]!;
  assert.match(cookie, /^coap_fleet_session=.+/);
  assert.is(await upgradeStatus(url, { Origin: 'http://evil.example', Cookie: cookie }), 403, 'upgrade from a foreign origin');
  assert.is(await upgradeStatus(url, { Origin: origin }), 401, 'upgrade without a session');
  assert.is(await upgradeStatus(url, { Origin: origin, Cookie: cookie }), 101, 'upgrade with the session and origin');
});

run('cold load weight; a wrong token is refused on the page; the right one shows the nodes live', async ({ browser: { page }, url, token }) => {
  const weight = await coldLoadWeight(page, url, () => page.getByLabel('Operator token').waitFor());
  console.log(`dashboard cold load to the login form: ${weight.responses} responses, ${weight.transferBytes} bytes on the wire, bodies ${weight.encodedBytes} bytes as sent, ${weight.decodedBytes} decoded`);
  await page.getByLabel('Operator token').fill(`${token.slice(0, -4)}xxxx`);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Login refused' }).waitFor();
  await page.getByLabel('Operator token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText(`${NODES.length} nodes, ${NODES.length} online`).waitFor();
  await page.getByTestId('connection').getByText('live').waitFor();
  for (const node of NODES) await page.getByRole('link', { name: node, exact: true }).waitFor();
  // Sparklines from /nodes/{id}/metrics fill in as samples arrive every second.
  await page.locator('table.fleet tbody tr').first().getByRole('img', { name: /CPU: [1-9]\d* samples/ }).waitFor();
  await screenshot(page, 'e2e-fleet');
});

run('a rollout published while the page watches reaches 100 % on the page, live', async ({ fleet, browser: { page } }) => {
  await page.getByRole('link', { name: 'Rollouts' }).click();
  await page.getByText('No rollout yet').waitFor();
  const image = await fleet.image('fw-2.0.0.bin', 128 * 1024);
  await fleet.publish({ image, version: '2.0.0', targets: NODES, updateId: 'fw-2.0.0' });
  // The list is an observation: the new rollout appears without a reload.
  await page.getByRole('link', { name: 'fw-2.0.0' }).click();
  await page.getByTestId('rollout-percent').getByText(`100 % (${NODES.length} of ${NODES.length})`).waitFor({ timeout: ROLLOUT_TIMEOUT_MS });
  await page.getByTestId('rollout-state').getByText('completed').waitFor();
  await screenshot(page, 'e2e-rollout');
  assert.is((await fleet.status('fw-2.0.0')).rollout, 'completed');
});

run('an alert is acknowledged from the page; the gateway records the operator', async ({ fleet, browser: { page } }) => {
  const operator = await fleet.operator();
  // Every mount is over 1 %: a disk_high alert per mount of each node at its next sample.
  const lower = await request(operator, 'PUT', '/system/config', { alert_disk_percent: 1, alert_disk_clear_percent: 0.5, alert_disk_for_s: 0 });
  assert.is(lower.code, ResponseCode.Changed, lower.payload.toString('utf8'));
  await page.getByRole('link', { name: 'Alerts' }).click();
  // The root file system's alert: other tests' short-lived mounts (a small tmpfs filled to
  // the brim, chromium's /dev/shm) raise alerts on this machine too, and a mount gone from
  // the samples clears its alert, out of the active list the gateway is asked for below.
  const ROOT_DISK = 'disk / used_percent';
  const button = page.getByRole('row').filter({ hasText: ROOT_DISK }).getByRole('button', { name: /^Acknowledge disk_high on node-1/ }).first();
  await button.waitFor();
  await button.click();
  // The page shows what became of its PUT: the row acknowledged, or the gateway's error.
  await page.getByRole('cell', { name: /^by / }).or(page.getByRole('alert')).first().waitFor({ timeout: 60_000 });
  assert.equal(await page.getByRole('alert').allTextContents(), [], 'the page shows no error after the acknowledgement');
  // The gateway's record of it, active or cleared since (the list the page clicked in may
  // have moved on); a failure shows what the gateway had.
  let seen: AlertView[] = [];
  const acknowledged = await fleet.until('an alert of node-1 acknowledged at the gateway', async () => {
    const response = await request(operator, 'GET', '/alerts?state=all');
    const alerts = (JSON.parse(response.payload.toString('utf8')) as { alerts: AlertView[] }).alerts;
    seen = alerts.filter((alert) => alert.node_id === 'node-1' && alert.detail.startsWith(ROOT_DISK));
    return seen.find((alert) => alert.acknowledged_by !== null);
  }, 30_000).catch((error: Error) => { throw new Error(`${error.message}; node-1's root-disk alerts: ${JSON.stringify(seen)}`); });
  assert.match(acknowledged.acknowledged_by!, /^operator:admin/);
  // While it is active the page's observation shows who acknowledged it.
  if (acknowledged.cleared_at === null) await page.getByText(`by ${acknowledged.acknowledged_by!}`).first().waitFor();
  await screenshot(page, 'e2e-alerts');
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('cell', { name: acknowledged.acknowledged_by!, exact: true }).first().waitFor();
  await screenshot(page, 'e2e-audit');
});

run('a node\'s logs follow: a line appended on the node shows on the page', async ({ nodes, browser: { page } }) => {
  const node = nodes[0]!;
  await page.getByRole('link', { name: 'Fleet' }).click();
  await page.getByRole('link', { name: node.nodeId, exact: true }).click();
  await page.getByRole('heading', { name: `Node ${node.nodeId}` }).waitFor();
  await page.getByRole('log').locator('li').first().waitFor();
  const line = `dashboard follows ${Date.now()}`;
  await appendFile(node.logFile, `${line}\n`);
  await page.getByRole('log').getByText(line).waitFor();
  await page.locator('.chart canvas').first().waitFor();
  await screenshot(page, 'e2e-node');
});

run('on a 390x844 phone the views fit; no console or CSP errors but the refused logins\' 401', async ({ browser, url }) => {
  await browser.page.setViewportSize({ width: 390, height: 844 });
  await browser.page.goto(`${url}#/fleet`);
  await browser.page.getByText(`${NODES.length} nodes,`).waitFor();
  const overflow = await browser.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
  assert.ok(overflow <= 0, `page wider than the phone by ${overflow} px`);
  await screenshot(browser.page, 'e2e-fleet-phone');
  assert.equal(browser.problems.filter((problem) => !problem.includes('status of 401')), []);
});

dashboard.run();
