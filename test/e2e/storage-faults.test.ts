// Storage faults against real gateway and agent processes (DESIGN §7): a data.mdb cut to
// half or overwritten (header, middle) stops either daemon with exit status 4 and one clear
// line, never a signal; a deleted one beside stored images starts the gateway with a
// warning; a full disk answers a state write or an upload 5.03 with a diagnostic, and the
// gateway keeps running and writes again once there is room.

import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agentPaths } from '../../src/agent/agent.js';
import { AgentStore } from '../../src/agent/store.js';
import { openGateway } from '../../src/operator/gateway-client.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { getUintOption, OptionNumber } from '../../src/protocol/options.js';
import { GatewayStore } from '../../src/server/store.js';
import { runCli } from '../helpers/cli.js';
import { request, withFleet, type Daemon, type LogEntry } from '../helpers/fleet.js';
import { DAMAGES, exitWithin, SmallDisk } from '../helpers/storage-faults.js';

const RECORDS = 300;
const EXIT_TIMEOUT_MS = 30_000;
const STORE_DAMAGED = 4;

/** The one line a daemon stopped by a damaged store prints (src/cli/main.ts). */
const corruptLine = (daemon: Daemon): string | undefined => daemon.log().split('\n').find((line) => line.startsWith('coap-fleet: STORE_CORRUPT: '));

async function expectStoreDamaged(daemon: Daemon, what: string): Promise<void> {
  const ended = await exitWithin(daemon.exited, EXIT_TIMEOUT_MS, what);
  assert.equal(ended, { code: STORE_DAMAGED, signal: null }, `${what}: how it ended; log:\n${daemon.tail(10)}`);
  assert.ok(corruptLine(daemon)?.includes('is damaged'), `${what}: the one-line error; log:\n${daemon.tail(10)}`);
}

test('a gateway whose data.mdb is truncated to half or overwritten (header, middle) exits with status 4 and one STORE_CORRUPT line, never by a signal; the sound copy starts', async () => {
  await withFleet({ name: 'store-gateway', nodeIds: ['node-1'] }, async (fleet) => {
    const state = join(fleet.gatewayDataDir, 'state');
    const store = await GatewayStore.open(state, { auditMaxEntries: 10_000 });
    for (let index = 0; index < RECORDS; index++) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString();
      await store.atomically((writer) => {
        writer.putNode({ registration: { node_id: `n-${index}`, version: '1.0.0', hardware: 'h'.repeat(120), agent_port: 5683 }, registered_at: at, last_seen: at, health: null, health_at: null });
        writer.audit({ at, who: 'local@127.0.0.1:1', action: 'node.register', target: `/nodes/n-${index}` });
      }, 'committed');
    }
    await store.close();
    const sound = join(fleet.dir, 'gateway-state-sound');
    await cp(state, sound, { recursive: true });

    for (const damage of DAMAGES) {
      await rm(state, { recursive: true, force: true });
      await cp(sound, state, { recursive: true });
      await damage.apply(state);
      const started = await fleet.startGateway().then(() => true, () => false);
      assert.not.ok(started, `${damage.name}: the gateway must not start`);
      await expectStoreDamaged(fleet.gateway!, `gateway, ${damage.name}`);
    }

    await rm(state, { recursive: true, force: true });
    await cp(sound, state, { recursive: true });
    await fleet.startGateway();
    assert.is((await fleet.nodes()).length, RECORDS, 'every node of the sound store');
    assert.equal(fleet.gateway!.unexpectedLines(), []);
  });
});

test('an agent whose data.mdb is truncated to half or overwritten (header, middle) exits with status 4 and one STORE_CORRUPT line, never by a signal', async () => {
  await withFleet({ name: 'store-agent', nodeIds: ['node-1'] }, async (fleet) => {
    const state = agentPaths(fleet.agentDataDir('node-1')).state;
    await mkdir(state, { recursive: true });
    const store = AgentStore.open(state);
    for (let index = 0; index < RECORDS; index++) {
      await store.saveUpdate({
        updateId: `fw-${index}`, manifest: null, state: 'failed', progress: 0, error: `refused: ${'e'.repeat(200)}`,
        download: null, install: null, updatedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString(),
      });
    }
    await store.close();
    const sound = join(fleet.dir, 'agent-state-sound');
    await cp(state, sound, { recursive: true });

    for (const damage of DAMAGES) {
      await rm(state, { recursive: true, force: true });
      await cp(sound, state, { recursive: true });
      await damage.apply(state);
      // No gateway: the agent must stop before it would look for one.
      const agent = await fleet.startAgent('node-1', { gateway: 'coaps://127.0.0.1:9' });
      await expectStoreDamaged(agent, `agent, ${damage.name}`);
    }
  });
});

test('a gateway started with its data.mdb deleted but images stored warns, naming the data directory and the count of images', async () => {
  await withFleet({ name: 'store-deleted', nodeIds: ['node-1'] }, async (fleet) => {
    await fleet.startGateway();
    const image = await fleet.image('fw-2.0.0.bin', 64 * 1024);
    await fleet.publish({ image, version: '2.0.0', targets: ['node-1'] });
    await fleet.gateway!.stop();
    await rm(join(fleet.gatewayDataDir, 'state', 'data.mdb'));
    await fleet.restartGateway();
    const warning = fleet.gateway!.entries().find((entry) => entry.level === 'warn' && /state store is empty/.test(String(entry.msg)));
    assert.ok(warning !== undefined, `a warning; log:\n${fleet.gateway!.tail(10)}`);
    assert.equal({ images: warning.images, data_dir: warning.data_dir }, { images: 1, data_dir: fleet.gatewayDataDir });
    assert.equal(fleet.unexpectedLines([/state store is empty/]), []);
  });
});

/** What lmdb-js and LMDB print on stderr of their own when a write fails (console.error
 * of the error with its stack; mdb.c's "Write error: ..."): expected on a full disk. */
const lmdbNoise = (entry: LogEntry): boolean => entry.level === 'unparsed'
  && /Write error|No space left on device|Input\/output error|^\s+at |^\s*code: -?\d+,?$|^\s*}$|^\s*commitError|^\s*\[?Error/.test(String(entry.msg));

test('a full disk: a state write gets 5.03 "no space left" with a Max-Age, the gateway keeps answering and writes again once space is freed; an upload gets 5.03 "no space left for the image" and publish prints it', async () => {
  await withFleet({ name: 'store-full', nodeIds: ['node-1'] }, async (fleet) => {
    await mkdir(fleet.gatewayDataDir, { recursive: true });
    const disk = SmallDisk.mount(fleet.gatewayDataDir, 16);
    if (typeof disk === 'string') {
      console.log(`SKIPPED the full-disk test: ${disk}`);
      return;
    }
    try {
      await fleet.startGateway({ plainPort: 0 });
      const local = await openGateway({ gateway: `coap://127.0.0.1:${fleet.coapPort}` });
      try {
        const register = (id: string) => request(local, 'POST', '/nodes', { node_id: id, version: '1.0.0', hardware: 'h'.repeat(120), agent_port: 5683 });
        assert.is((await register('n-first')).code, ResponseCode.Created);

        await disk.fill();
        // LMDB reuses pages it freed before it grows the file: new nodes until it must grow.
        let refused;
        for (let index = 0; index < 2000 && refused === undefined; index++) {
          const response = await register(`n-${index}`);
          if (response.code !== ResponseCode.Created) refused = response;
        }
        assert.ok(refused !== undefined, 'a registration refused on the full disk');
        assert.is(refused.code, ResponseCode.ServiceUnavailable);
        assert.is(refused.payload.toString('utf8'), 'no space left on the gateway\'s state disk');
        assert.is(getUintOption(refused.options, OptionNumber.MaxAge), 30);
        assert.is((await request(local, 'GET', '/nodes')).code, ResponseCode.Content, 'the gateway still answers');
        fleet.checkAlive();

        await disk.free();
        assert.is((await register('n-after')).code, ResponseCode.Created, 'a write once space is back');

        // Room for the manifest, not for the image.
        await disk.fill(512 * 1024);
        const image = await fleet.image('fw-2.0.0.bin', 2 * 1024 * 1024);
        const publish = await runCli([
          'publish', '--gateway', `coap://127.0.0.1:${fleet.coapPort}`, '--image', image.path, '--version', '2.0.0',
          '--targets', 'node-1', '--signing-key', join(fleet.keysDir, 'publisher.key'),
        ], { killAfterMs: 60_000 });
        assert.is(publish.status, 1, publish.stderr);
        assert.match(publish.stderr, `5.03 Service Unavailable: no space left for the image: ${image.size} bytes needed`);
        assert.equal(await readdir(join(fleet.gatewayDataDir, 'images', '.incoming')), [], 'no partial image left');
        fleet.checkAlive();
      } finally {
        await local.close();
      }
      await fleet.gateway!.stop();
      assert.equal(fleet.unexpectedLines([/a write refused by the disk/, lmdbNoise]), []);
    } finally {
      await fleet.gateway?.stop();
      disk.unmount();
    }
  });
});

test.run();
