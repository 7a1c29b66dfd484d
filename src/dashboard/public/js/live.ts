// Hooks that tie a view to the gateway: an observed resource (Observe, re-registered by
// the client after a reconnection) and a one-shot read with a reload.

import { createContext } from '../vendor/preact.mjs';
import { useCallback, useContext, useEffect, useState } from '../vendor/hooks.mjs';
import { Code } from './coap-frame.js';
import { replyJson, type CoapWebSocketClient } from './coap-ws.js';

export const GatewayContext = createContext<CoapWebSocketClient | undefined>(undefined);

export function useGateway(): CoapWebSocketClient {
  const client = useContext(GatewayContext);
  if (client === undefined) throw new Error('no gateway connection in context');
  return client;
}

export interface Live<T> {
  readonly value: T | undefined;
  readonly error: string | undefined;
}

/** The representation at `path`, kept current by an observation; none while path is undefined. */
export function useObserved<T>(path: string | undefined): Live<T> {
  const client = useGateway();
  const [state, setState] = useState<Live<T>>({ value: undefined, error: undefined });
  useEffect(() => {
    setState({ value: undefined, error: undefined });
    if (path === undefined) return undefined;
    return client.observe(
      path,
      (reply) => setState({ value: replyJson<T>(reply), error: undefined }),
      (error) => setState((previous) => ({ value: previous.value, error: error.message })),
    );
  }, [client, path]);
  return state;
}

/** One GET of `path`, again when reload() is called or the connection comes back. */
export function useFetched<T>(path: string | undefined, connected: boolean): Live<T> & { readonly reload: () => void } {
  const client = useGateway();
  const [round, setRound] = useState(0);
  const [state, setState] = useState<Live<T>>({ value: undefined, error: undefined });
  useEffect(() => {
    if (path === undefined || !connected) return undefined;
    let current = true;
    client.request(Code.GET, path).then(
      (reply) => { if (current) setState({ value: replyJson<T>(reply), error: undefined }); },
      (error: Error) => { if (current) setState((previous) => ({ value: previous.value, error: error.message })); },
    );
    return () => { current = false; };
  }, [client, path, round, connected]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return { ...state, reload };
}
