// The agent's errors under the project's one root: each is a CoapError and an AgentError
// with its stable code, including those met at run time (a registration the gateway
// refuses, health figures the kernel does not give, a rollout ending under a job).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AgentConfigError, AgentError, DirectoryNotWritableError, GatewayRequestError, HealthFiguresError,
  IllegalTransitionError, RolloutEndedError, StoppedError, TransportUnavailableError,
} from '../../../src/agent/errors.js';
import { GatewayLink } from '../../../src/agent/gateway-link.js';
import { parseCpuTimes, parseMemoryPercent } from '../../../src/agent/system-health.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { CoapError } from '../../../src/protocol/errors.js';

const typed = (error: unknown, code: string): void => {
  assert.ok(error instanceof AgentError && error instanceof CoapError, `${String(error)} is an AgentError under CoapError`);
  assert.is((error as AgentError).code, code);
  assert.is((error as AgentError).name, (error as AgentError).constructor.name);
};

test('every agent error is a CoapError with its stable code', () => {
  typed(new AgentConfigError(['gateway: missing']), 'AGENT_ERR_CONFIG');
  typed(new IllegalTransitionError('update state', 'failed', 'pending'), 'AGENT_ERR_STATE');
  typed(new StoppedError(), 'AGENT_ERR_STOPPED');
  typed(new TransportUnavailableError('no DTLS'), 'AGENT_ERR_TRANSPORT');
  typed(new DirectoryNotWritableError('slot', '/x', 'EROFS', undefined), 'AGENT_ERR_NOT_WRITABLE');
  typed(new GatewayRequestError('registration refused', ResponseCode.Forbidden, ''), 'AGENT_ERR_GATEWAY');
  typed(new RolloutEndedError('cancelled'), 'AGENT_ERR_ROLLOUT_ENDED');
  typed(new HealthFiguresError('no figures'), 'AGENT_ERR_HEALTH_FIGURES');
});

test('a registration the gateway refuses rejects with GatewayRequestError: its code, the response code and the diagnostic', async () => {
  const gateway = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  const client = await Endpoint.udp({ host: '127.0.0.1', port: 0 });
  gateway.router.add('/nodes', { handlers: { POST: () => ({ code: ResponseCode.Forbidden, payload: 'node n1 is not enrolled' }) } });
  try {
    const link = new GatewayLink(client, `coap://127.0.0.1:${gateway.address().port}`, 'n1', () => {});
    const error = await link.register({ node_id: 'n1', version: '1.0.0', hardware: 'test', agent_port: 1 }).then(() => undefined, (reason: unknown) => reason);
    typed(error, 'AGENT_ERR_GATEWAY');
    assert.is((error as GatewayRequestError).responseCode, ResponseCode.Forbidden);
    assert.is((error as GatewayRequestError).message, 'registration refused: 4.03 Forbidden (node n1 is not enrolled)');
  } finally {
    await client.close();
    await gateway.close();
  }
});

test('kernel figures that cannot be read are a HealthFiguresError', () => {
  assert.throws(() => parseCpuTimes('intr 1 2 3\n'), (error: unknown) => error instanceof HealthFiguresError && error.code === 'AGENT_ERR_HEALTH_FIGURES');
  assert.throws(() => parseMemoryPercent('SwapTotal: 0 kB\n'), (error: unknown) => error instanceof HealthFiguresError);
});

test.run();
