// The access table called directly (DESIGN §6): principals from identities, plain CoAP as
// `local` only from loopback and only when allowed, 4.01 without an identity, 4.03 for the
// wrong one, nodes limited to their own entries and their own updates.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayRoute } from '../../../src/fleet/paths.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import type { MethodName } from '../../../src/protocol/router.js';
import { ACCESS_RULES, authorize, resolvePrincipal, type AuthorizationContext, type Decision } from '../../../src/server/authorization.js';

const context: AuthorizationContext = {
  allowLocalPlain: true,
  targetsOf: (id) => (id === 'u1' ? ['n1', 'n2'] : undefined),
};
const LOOPBACK = { address: '127.0.0.1', port: 40000 };
const REMOTE = { address: '192.0.2.10', port: 40000 };

function ask(method: MethodName, route: string, params: Record<string, string>, identity: string | undefined, options: {
  peer?: { address: string; port: number }; query?: string[]; context?: AuthorizationContext;
} = {}): Decision {
  return authorize({ method, route, params, query: options.query ?? [], peer: { ...(options.peer ?? REMOTE), identity } }, options.context ?? context);
}

const codeOf = (decision: Decision): number | 'allowed' => (decision.allowed ? 'allowed' : decision.code);

test('no identity from a non-loopback address is 4.01, whatever the route', () => {
  for (const rule of ACCESS_RULES) {
    const decision = ask(rule.method, rule.route, { id: 'u1' }, undefined, { peer: REMOTE });
    assert.is(codeOf(decision), ResponseCode.Unauthorized, `${rule.method} ${rule.route}`);
  }
  assert.equal(resolvePrincipal({ address: '::ffff:10.0.0.1', port: 1 }, true), { code: ResponseCode.Unauthorized, reason: 'no identity from a non-loopback address' });
});

test('plain CoAP from loopback is local with operator rights, unless the config says no', () => {
  const decision = ask('POST', GatewayRoute.updates, {}, undefined, { peer: LOOPBACK });
  assert.ok(decision.allowed);
  assert.equal(decision.allowed && decision.caller, { principal: { role: 'local', name: 'local' }, node: undefined });
  assert.ok(ask('DELETE', GatewayRoute.node, { id: 'n1' }, undefined, { peer: { address: '::1', port: 1 } }).allowed);
  const strict = { ...context, allowLocalPlain: false };
  assert.is(codeOf(ask('GET', GatewayRoute.nodes, {}, undefined, { peer: LOOPBACK, context: strict })), ResponseCode.Unauthorized);
});

test('an identity that names no principal is 4.03, not local even from loopback', () => {
  assert.is(codeOf(ask('GET', GatewayRoute.nodes, {}, 'somebody', { peer: LOOPBACK })), ResponseCode.Forbidden);
  assert.is(codeOf(ask('GET', GatewayRoute.nodes, {}, 'local:x', { peer: LOOPBACK })), ResponseCode.Forbidden);
});

test('the matrix: operators manage, nodes write only their own entries', () => {
  const operator = 'operator:alice';
  const n1 = 'O=coap-fleet, CN=node:n1'; // a certificate subject names the principal by CN
  const n3 = 'node:n3';
  const cases: [MethodName, string, Record<string, string>, string, number | 'allowed'][] = [
    ['POST', GatewayRoute.updates, {}, operator, 'allowed'],
    ['GET', GatewayRoute.metrics, { id: 'n1' }, operator, 'allowed'],
    ['GET', GatewayRoute.metrics, { id: 'n1' }, n1, 'allowed'],
    ['GET', GatewayRoute.metrics, { id: 'n1' }, n3, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.metrics, { id: 'n1' }, n1, 'allowed'],
    ['PUT', GatewayRoute.metrics, { id: 'n1' }, n3, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.metrics, { id: 'n1' }, operator, ResponseCode.Forbidden],
    ['GET', GatewayRoute.config, {}, operator, 'allowed'],
    ['PUT', GatewayRoute.config, {}, operator, 'allowed'],
    ['PUT', GatewayRoute.config, {}, n1, ResponseCode.Forbidden],
    ['POST', GatewayRoute.restart, {}, operator, 'allowed'],
    ['POST', GatewayRoute.restart, {}, n1, ResponseCode.Forbidden],
    ['POST', GatewayRoute.shutdown, {}, n1, ResponseCode.Forbidden],
    ['POST', GatewayRoute.updates, {}, n1, ResponseCode.Forbidden],
    ['GET', GatewayRoute.updates, {}, n1, 'allowed'],
    ['PUT', GatewayRoute.update, { id: 'u1' }, n1, ResponseCode.Forbidden],
    ['DELETE', GatewayRoute.update, { id: 'u1' }, operator, 'allowed'],
    ['GET', GatewayRoute.update, { id: 'u1' }, n1, 'allowed'],
    ['GET', GatewayRoute.update, { id: 'u1' }, n3, ResponseCode.Forbidden],
    ['GET', GatewayRoute.download, { id: 'u1' }, n1, 'allowed'],
    ['GET', GatewayRoute.download, { id: 'u1' }, n3, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.download, { id: 'u1' }, n1, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.download, { id: 'u1' }, operator, 'allowed'],
    ['POST', GatewayRoute.install, { id: 'u1' }, n1, 'allowed'],
    ['POST', GatewayRoute.install, { id: 'u1' }, n3, ResponseCode.Forbidden],
    ['POST', GatewayRoute.install, { id: 'u1' }, operator, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.status, { id: 'u1' }, n1, 'allowed'],
    ['PUT', GatewayRoute.status, { id: 'u1' }, n3, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.status, { id: 'nope' }, n1, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.status, { id: 'u1' }, operator, ResponseCode.Forbidden],
    ['GET', GatewayRoute.status, { id: 'u1' }, operator, 'allowed'],
    ['GET', GatewayRoute.nodes, {}, n1, ResponseCode.Forbidden],
    ['POST', GatewayRoute.nodes, {}, n1, 'allowed'],
    ['GET', GatewayRoute.node, { id: 'n1' }, n1, 'allowed'],
    ['GET', GatewayRoute.node, { id: 'n2' }, n1, ResponseCode.Forbidden],
    ['DELETE', GatewayRoute.node, { id: 'n1' }, n1, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.health, { id: 'n1' }, n1, 'allowed'],
    ['PUT', GatewayRoute.health, { id: 'n2' }, n1, ResponseCode.Forbidden],
    ['PUT', GatewayRoute.health, { id: 'n1' }, operator, ResponseCode.Forbidden],
    ['GET', GatewayRoute.health, { id: 'n1' }, n1, ResponseCode.Forbidden],
    ['GET', GatewayRoute.health, { id: 'n1' }, operator, 'allowed'],
  ];
  for (const [method, route, params, identity, expected] of cases) {
    assert.is(codeOf(ask(method, route, params, identity)), expected, `${identity} ${method} ${route} ${JSON.stringify(params)}`);
  }
});

test('a node acts for itself; local names the node it acts for', () => {
  const own = ask('PUT', GatewayRoute.status, { id: 'u1' }, 'node:n2');
  assert.equal(own.allowed && own.caller.node, 'n2');
  const local = ask('PUT', GatewayRoute.status, { id: 'u1' }, undefined, { peer: LOOPBACK, query: ['node=n1'] });
  assert.equal(local.allowed && local.caller.node, 'n1');
  assert.is(codeOf(ask('PUT', GatewayRoute.status, { id: 'u1' }, undefined, { peer: LOOPBACK })), ResponseCode.Forbidden, 'local must say which node');
  assert.is(codeOf(ask('PUT', GatewayRoute.status, { id: 'u1' }, undefined, { peer: LOOPBACK, query: ['node=n9'] })), ResponseCode.Forbidden);
  const health = ask('PUT', GatewayRoute.health, { id: 'n7' }, undefined, { peer: LOOPBACK });
  assert.equal(health.allowed && health.caller.node, 'n7');
});

test('a method and route without a rule is refused (fail closed)', () => {
  assert.is(codeOf(ask('PATCH', GatewayRoute.updates, {}, 'operator:alice')), ResponseCode.Forbidden);
  assert.is(codeOf(ask('GET', '/system/unknown', {}, undefined, { peer: LOOPBACK })), ResponseCode.Forbidden);
});

test.run();
