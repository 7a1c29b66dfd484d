// The server's resource table: path patterns ("/updates/{id}/status") with a handler per
// method, their link attributes for /.well-known/core (RFC 6690 §4, RFC 7252 §7.2), and
// the lookup that tells 4.04 from 4.05 (RFC 7252 §5.9.2.5, §5.9.2.6).

import { Method } from './codes.js';
import type { LinkAttribute, Link } from './link-format.js';
import type { RequestHandler, UploadPolicy } from './server-types.js';

export type MethodName = keyof typeof Method;

export interface ResourceDefinition {
  readonly handlers: Partial<Record<MethodName, RequestHandler>>;
  /** Link attributes in /.well-known/core: rt, if, ct, sz, obs, title… */
  readonly attributes?: readonly LinkAttribute[];
  /** Left out of /.well-known/core (e.g. per-node paths that would flood it). */
  readonly hidden?: boolean;
  /** GET with Observe registers observers (RFC 7641); list `obs` in the attributes too.
   * 'confirmable': every notification is a CON, not only every N-th (§4.5). */
  readonly observable?: boolean | 'confirmable';
  /** How request bodies are taken; the endpoint's default when absent. */
  readonly upload?: UploadPolicy;
}

interface Route {
  readonly pattern: string;
  /** Literal segments as strings, parameters as { name }. */
  readonly segments: readonly (string | { readonly name: string })[];
  readonly definition: ResourceDefinition;
}

export type RouteMatch =
  | {
    readonly kind: 'found'; readonly handler: RequestHandler; readonly params: Readonly<Record<string, string>>;
    readonly pattern: string; readonly definition: ResourceDefinition;
  }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'method-not-allowed'; readonly allowed: readonly MethodName[] };

const METHOD_BY_CODE = new Map<number, MethodName>(
  Object.entries(Method).map(([name, code]) => [code, name as MethodName]),
);

function splitPattern(pattern: string): Route['segments'] {
  if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
  const parts = pattern === '/' ? [] : pattern.slice(1).split('/');
  return parts.map((part) => {
    const match = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(part);
    return match === null ? part : { name: match[1]! };
  });
}

export class Router {
  readonly #routes: Route[] = [];

  /** Adds a resource; literal routes win over parameterised ones of the same length. */
  add(pattern: string, definition: ResourceDefinition): this {
    if (this.#routes.some((route) => route.pattern === pattern)) throw new Error(`route ${pattern} already defined`);
    this.#routes.push({ pattern, segments: splitPattern(pattern), definition });
    // More literal segments first, so "/updates/new" beats "/updates/{id}".
    const literals = (route: Route): number => route.segments.filter((segment) => typeof segment === 'string').length;
    this.#routes.sort((a, b) => literals(b) - literals(a));
    return this;
  }

  remove(pattern: string): boolean {
    const index = this.#routes.findIndex((route) => route.pattern === pattern);
    if (index >= 0) this.#routes.splice(index, 1);
    return index >= 0;
  }

  match(code: number, path: readonly string[]): RouteMatch {
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, path);
      if (params === undefined) continue;
      const method = METHOD_BY_CODE.get(code);
      const handler = method === undefined ? undefined : route.definition.handlers[method];
      if (handler === undefined) {
        return { kind: 'method-not-allowed', allowed: Object.keys(route.definition.handlers) as MethodName[] };
      }
      return { kind: 'found', handler, params, pattern: route.pattern, definition: route.definition };
    }
    return { kind: 'not-found' };
  }

  /** The links of every visible resource, for /.well-known/core. A parameterised route is
   * listed only when it declares its attributes, by its pattern with the braces
   * percent-encoded (`</nodes/%7Bid%7D/health>`): RFC 6690 §2 targets are URI-references,
   * where RFC 3986 §2 allows no `{` or `}`, so strict parsers (libcoap among them) take
   * the encoded form, and it decodes to the RFC 6570 template. */
  links(): Link[] {
    return this.#routes
      .filter((route) => route.definition.hidden !== true
        && (route.segments.every((segment) => typeof segment === 'string') || route.definition.attributes !== undefined))
      .map((route) => ({ target: route.pattern.replace(/\{/g, '%7B').replace(/\}/g, '%7D'), attributes: route.definition.attributes ?? [] }))
      .sort((a, b) => a.target.localeCompare(b.target));
  }
}

function matchSegments(segments: Route['segments'], path: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (typeof segment === 'string') {
      if (segment !== path[i]) return undefined;
    } else {
      params[segment.name] = path[i]!;
    }
  }
  return params;
}
