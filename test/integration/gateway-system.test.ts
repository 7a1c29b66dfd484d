// The gateway's own /system resources on a real `coap-fleet server` process over DTLS: a
// config change is applied live where it can be and kept for the next start; POST
// /system/restart is answered 2.04 and the process then exits 75 (the status the systemd
// unit restarts on), and the change is there after the start; POST /system/shutdown is
// answered and the process exits 0. A setting given by a flag is not changed here.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBody } from '../../src/fleet/payload.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import { RESTART_EXIT_STATUS } from '../../src/cli/server-command.js';
import { request, withFleet } from '../helpers/fleet.js';

type ConfigView = { settings: Record<string, unknown>; pending: Record<string, unknown>; applied?: string[]; at_restart?: string[] };

test('restart exits 75 after its answer, the changed config survives it; shutdown exits 0', async () => {
  await withFleet({ name: 'gateway-system', nodeIds: ['node-1'] }, async (fleet) => {
    await fleet.startGateway();
    let operator = await fleet.operator();
    const changed = await request(operator, 'PUT', '/system/config', { alert_cpu_percent: 95, audit_max_entries: 500 });
    assert.is(changed.code, ResponseCode.Changed, changed.payload.toString());
    const change = decodeBody(changed.payload, changed.contentFormat) as ConfigView;
    assert.equal([change.applied, change.at_restart, change.pending], [['alert_cpu_percent'], ['audit_max_entries'], { audit_max_entries: 500 }]);

    // The harness gives the DTLS port as a flag: a change here would lose to it at the next start.
    const fixed = await request(operator, 'PUT', '/system/config', { dtls_host: '127.0.0.2' });
    assert.equal([fixed.code, fixed.payload.toString()], [ResponseCode.BadRequest, 'dtls_host: given by the environment or a flag, which would win again at the next start; change it there']);

    const restart = await request(operator, 'POST', '/system/restart');
    assert.is(restart.code, ResponseCode.Changed, 'answered before the stop');
    assert.equal(await fleet.gateway!.exited, { code: RESTART_EXIT_STATUS, signal: null });
    assert.ok(fleet.gateway!.entries().some((entry) => entry.msg === 'stopping' && entry.request === 'restart'));

    await fleet.restartGateway();
    operator = await fleet.operator();
    const after = decodeBody((await request(operator, 'GET', '/system/config')).payload, undefined) as ConfigView;
    assert.equal([after.settings.alert_cpu_percent, after.settings.audit_max_entries, after.pending], [95, 500, {}], 'kept across the restart');

    const shutdown = await request(operator, 'POST', '/system/shutdown');
    assert.is(shutdown.code, ResponseCode.Changed);
    assert.equal(await fleet.gateway!.exited, { code: 0, signal: null });
    assert.equal(fleet.gateway!.unexpectedLines(), []);
  });
});

test.run();
