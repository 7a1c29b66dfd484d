// Who may do what on the gateway (DESIGN §6): one table of method × route pattern × who,
// checked before any handler runs. The caller's principal comes from the DTLS identity;
// plain CoAP has none and is the `local` administrator only from a loopback address and
// only when the config allows it. Denial is 4.01 without an identity, 4.03 with one that
// may not do this.

import { isLoopback, principalFromIdentity, type Principal } from '../fleet/identity.js';
import { GatewayRoute } from '../fleet/paths.js';
import { ResponseCode } from '../protocol/codes.js';
import type { Peer } from '../protocol/interfaces.js';
import type { MethodName } from '../protocol/router.js';

/**
 * Who a rule lets in:
 * - `operator`: an operator, or `local` (plain CoAP on loopback: full operator rights);
 * - `own-node`: the node whose id is the route's {id} (its registration, its health);
 * - `target-node`: a node among the targets of the update {id};
 * - `any-node`: any node; the handler ties the body to it (registration: node_id must be
 *   the caller's own id).
 * `local` may also act as a node where only nodes may write, naming it by the path's {id},
 * by `?node=ID` on update routes, or by the body (registration): tooling and agents on the
 * gateway's own machine without DTLS.
 */
export type Access = 'operator' | 'own-node' | 'target-node' | 'any-node';

export interface AccessRule {
  readonly method: MethodName;
  readonly route: string;
  readonly allow: readonly Access[];
}

export const ACCESS_RULES: readonly AccessRule[] = [
  { method: 'GET', route: GatewayRoute.updates, allow: ['operator', 'any-node'] },
  { method: 'POST', route: GatewayRoute.updates, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.update, allow: ['operator', 'target-node'] },
  { method: 'PUT', route: GatewayRoute.update, allow: ['operator'] },
  { method: 'DELETE', route: GatewayRoute.update, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.download, allow: ['operator', 'target-node'] },
  { method: 'PUT', route: GatewayRoute.download, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.install, allow: ['target-node'] },
  { method: 'GET', route: GatewayRoute.status, allow: ['operator', 'target-node'] },
  { method: 'PUT', route: GatewayRoute.status, allow: ['target-node'] },
  { method: 'GET', route: GatewayRoute.nodes, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.nodes, allow: ['any-node'] },
  { method: 'GET', route: GatewayRoute.node, allow: ['operator', 'own-node'] },
  { method: 'PUT', route: GatewayRoute.node, allow: ['operator'] },
  { method: 'DELETE', route: GatewayRoute.node, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.health, allow: ['operator'] },
  { method: 'PUT', route: GatewayRoute.health, allow: ['own-node'] },
  { method: 'GET', route: GatewayRoute.metrics, allow: ['operator', 'own-node'] },
  { method: 'PUT', route: GatewayRoute.metrics, allow: ['own-node'] },
  // Forwarded to the node's agent: operators only; a node never reaches another node, nor
  // its own agent through the gateway (it has its own resources at hand).
  { method: 'GET', route: GatewayRoute.services, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.service, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.service, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.logs, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.readiness, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.nodeConfig, allow: ['operator'] },
  { method: 'PUT', route: GatewayRoute.nodeConfig, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.nodeRestart, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.nodeShutdown, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.alerts, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.alert, allow: ['operator'] },
  { method: 'PUT', route: GatewayRoute.alert, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.audit, allow: ['operator'] },
  { method: 'GET', route: GatewayRoute.revocations, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.revocations, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.bootstraps, allow: ['operator'] },
  // Re-enrollment with the node's current certificate: the handler ties the request's
  // subject to the caller (RFC 9148 §4.1, RFC 7030 §4.2.2).
  { method: 'POST', route: GatewayRoute.estReenroll, allow: ['any-node'] },
  { method: 'GET', route: GatewayRoute.config, allow: ['operator'] },
  { method: 'PUT', route: GatewayRoute.config, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.restart, allow: ['operator'] },
  { method: 'POST', route: GatewayRoute.shutdown, allow: ['operator'] },
];

export const LOCAL_PRINCIPAL: Principal = { role: 'local', name: 'local' };

/** The authorized caller: its principal and the node it acts for (a node's own id; for
 * `local`, the node it names; undefined for operators). */
export interface Caller {
  readonly principal: Principal;
  readonly node: string | undefined;
}

export type Decision =
  | { readonly allowed: true; readonly caller: Caller }
  | { readonly allowed: false; readonly code: number; readonly reason: string; readonly principal: Principal | undefined };

export interface AuthorizationRequest {
  readonly method: MethodName;
  /** The matched route pattern, e.g. "/updates/{id}/status". */
  readonly route: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: readonly string[];
  readonly peer: Peer;
}

export interface AuthorizationContext {
  readonly allowLocalPlain: boolean;
  /** The target nodes of an update; undefined when there is no such update. */
  targetsOf(updateId: string): readonly string[] | undefined;
}

/** The principal of a peer, or why there is none: plain CoAP counts as `local` only from
 * loopback and when allowed; an identity that names no principal is a wrong identity. */
export function resolvePrincipal(peer: Peer, allowLocalPlain: boolean): Principal | { code: number; reason: string } {
  if (peer.identity === undefined) {
    if (allowLocalPlain && isLoopback(peer.address)) return LOCAL_PRINCIPAL;
    return { code: ResponseCode.Unauthorized, reason: allowLocalPlain ? 'no identity from a non-loopback address' : 'no identity' };
  }
  return principalFromIdentity(peer.identity)
    ?? { code: ResponseCode.Forbidden, reason: `identity ${JSON.stringify(peer.identity.slice(0, 80))} names no principal` };
}

export const ruleFor = (method: MethodName, route: string): AccessRule | undefined =>
  ACCESS_RULES.find((rule) => rule.method === method && rule.route === route);

/** The value of `name=value` among the Uri-Query arguments. */
export const queryValue = (query: readonly string[], name: string): string | undefined =>
  query.find((argument) => argument.startsWith(`${name}=`))?.slice(name.length + 1);

/** The table's answer for one request. No rule means no access (fail closed). */
export function authorize(request: AuthorizationRequest, context: AuthorizationContext): Decision {
  const resolved = resolvePrincipal(request.peer, context.allowLocalPlain);
  if (!('role' in resolved)) return { allowed: false, code: resolved.code, reason: resolved.reason, principal: undefined };
  const principal = resolved;
  const deny = (reason: string): Decision => ({ allowed: false, code: ResponseCode.Forbidden, reason, principal });
  const rule = ruleFor(request.method, request.route);
  if (rule === undefined) return deny(`no access rule for ${request.method} ${request.route}`);
  const { allow } = rule;
  if (principal.role !== 'node' && allow.includes('operator')) return { allowed: true, caller: { principal, node: undefined } };
  if (principal.role === 'operator') return deny(`${request.method} ${request.route} is for nodes`);
  // A node, or `local` acting as one.
  const id = request.params.id;
  const acting = principal.role === 'node' ? principal.name : undefined;
  if (allow.includes('own-node') && id !== undefined && (acting === undefined || acting === id)) {
    return { allowed: true, caller: { principal, node: id } };
  }
  if (allow.includes('target-node') && id !== undefined) {
    const node = acting ?? queryValue(request.query, 'node');
    if (node === undefined) return deny('local callers name the node with ?node=ID');
    const targets = context.targetsOf(id);
    if (targets?.includes(node) === true) return { allowed: true, caller: { principal, node } };
    return deny(targets === undefined ? `no update ${id}` : `node ${node} is not a target of ${id}`);
  }
  if (allow.includes('any-node')) return { allowed: true, caller: { principal, node: acting } };
  return deny(`${principal.role}:${principal.name} may not ${request.method} ${request.route}${id === undefined ? '' : ` for ${id}`}`);
}
