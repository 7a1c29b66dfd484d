// A test double of the gateway peer, on our own Endpoint over real UDP on loopback: the
// wire contract of the agent (register, health, observable /updates, status, block-wise
// download with ETag and Size2, install with scripted 2.04 / 5.03 Max-Age / 4.03), and a
// record of everything the agent did to it. The real gateway (src/server) is tested
// against the agent end to end elsewhere.

import { waitFor } from '../../helpers/wait.js';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileBody } from '../../../src/protocol/body.js';
import { ResponseCode } from '../../../src/protocol/codes.js';
import { ContentFormat } from '../../../src/protocol/content-formats.js';
import { createDtlsEndpoint } from '../../../src/dtls/index.js';
import { Endpoint } from '../../../src/protocol/endpoint.js';
import { ResponseError } from '../../../src/protocol/errors.js';
import { DEFAULT_POLICY, signManifest, type Manifest } from '../../../src/fleet/manifest.js';
import type { HealthReport, NodeRegistration, StatusReport } from '../../../src/fleet/schemas.js';

/** The agent's block size on a link that loses nothing: `served` counts in it. */
const SERVED_BLOCK_SIZE = 1024;

export interface Offered {
  /** A manifest, or any object (a malformed offer). */
  manifest: Manifest | Record<string, unknown>;
  rollout: 'active' | 'paused' | 'completed' | 'cancelled' | 'aborted';
  imageReady: boolean;
  /** The file served as the image. */
  imagePath: string;
}

export interface InstallAnswer {
  readonly code: number;
  readonly maxAge?: number;
  readonly diagnostic?: string;
}

export class FakeGateway {
  readonly endpoint: Endpoint;
  readonly uri: string;
  /** With the DTLS identity of the sender (undefined over plain CoAP). */
  readonly registrations: { body: NodeRegistration; at: number; identity: string | undefined }[] = [];
  readonly health: HealthReport[] = [];
  readonly statuses = new Map<string, StatusReport[]>();
  /** Numbers of the 1 KiB blocks read to be sent, per update, in order. */
  readonly served = new Map<string, number[]>();
  /** When each install request came, per update. */
  readonly installAsks = new Map<string, number[]>();
  /** Scripted answers to POST /install, taken in order; 2.04 when none is left. */
  readonly installAnswers = new Map<string, InstallAnswer[]>();
  /** Called before a block is served; a promise holds the answer back. */
  beforeBlock: (updateId: string, num: number) => void | Promise<void> = () => {};
  /** The bytes of block `num` as served: a gateway (or a link) that corrupts some. */
  alterBlock: (updateId: string, num: number, bytes: Buffer) => Buffer = (_id, _num, bytes) => bytes;
  /** An ETag served instead of the checksum's (the contract's), per update. */
  readonly etags = new Map<string, Buffer>();
  /** Called when a registration arrives, before it is answered; a promise holds the answer
   * back (a registration slow through loss). */
  beforeRegistration: (registration: NodeRegistration) => void | Promise<void> = () => {};
  /** Answer health from a node this instance has not registered with 4.04 (a gateway
   * that lost its state). */
  requireRegistration = false;
  #updates: Offered[] = [];
  readonly #known = new Set<string>();

  private constructor(endpoint: Endpoint, scheme: 'coap' | 'coaps') {
    this.endpoint = endpoint;
    this.uri = `${scheme}://127.0.0.1:${endpoint.address().port}`;
  }

  /** On `port` (0: ephemeral), e.g. the port of a gateway that was just closed; over DTLS
   * with `psk` (identity → key). */
  static async start(port = 0, psk?: ReadonlyMap<string, Buffer>): Promise<FakeGateway> {
    const endpoint = psk === undefined
      ? await Endpoint.udp({ host: '127.0.0.1', port })
      : await createDtlsEndpoint({ role: 'server', mode: 'psk', pskLookup: (identity) => psk.get(identity), host: '127.0.0.1', port });
    const gateway = new FakeGateway(endpoint, psk === undefined ? 'coap' : 'coaps');
    gateway.#routes();
    return gateway;
  }

  setUpdates(updates: Offered[]): void {
    this.#updates = updates;
    this.endpoint.notify('/updates');
  }

  /** Changes one offer (rollout, image_ready…) and notifies the observers. */
  changeUpdate(updateId: string, change: Partial<Offered>): void {
    this.setUpdates(this.#updates.map((offer) => (offer.manifest.update_id === updateId ? { ...offer, ...change } : offer)));
  }

  statesOf(updateId: string): string[] {
    return (this.statuses.get(updateId) ?? []).map((status) => status.state);
  }

  lastStatus(updateId: string): StatusReport | undefined {
    return this.statuses.get(updateId)?.at(-1);
  }

  /** The shared bounded wait (test/helpers/wait.ts: generous, for loaded machines). */
  waitFor(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void> {
    return waitFor(what, predicate, timeoutMs);
  }

  /** Waits for a terminal status of `updateId` and returns it. */
  async outcome(updateId: string, timeoutMs = 30_000): Promise<StatusReport> {
    await this.waitFor(() => ['installed', 'failed', 'rolled_back'].includes(this.lastStatus(updateId)?.state ?? ''), `a final status of ${updateId}`, timeoutMs);
    return this.lastStatus(updateId)!;
  }

  async close(): Promise<void> {
    await this.endpoint.close();
  }

  #routes(): void {
    const json = (value: unknown) => ({ code: ResponseCode.Content, payload: JSON.stringify(value), contentFormat: ContentFormat.Json });
    const body = <T>(payload: Buffer): T => JSON.parse(payload.toString('utf8')) as T;
    const router = this.endpoint.router;
    router.add('/nodes', {
      handlers: {
        POST: async (request) => {
          const registration = body<NodeRegistration>(request.payload);
          await this.beforeRegistration(registration);
          this.registrations.push({ body: registration, at: Date.now(), identity: request.peer.identity });
          const known = this.#known.has(registration.node_id);
          this.#known.add(registration.node_id);
          return { code: known ? ResponseCode.Changed : ResponseCode.Created };
        },
      },
    });
    router.add('/nodes/{id}/health', {
      handlers: {
        PUT: (request) => {
          if (this.requireRegistration && !this.#known.has(request.params.id!)) return { code: ResponseCode.NotFound };
          this.health.push(body<HealthReport>(request.payload));
          return { code: ResponseCode.Changed };
        },
      },
    });
    // Plain CoAP has no identity: like the real gateway's `local` caller, the node names
    // itself with ?node=ID on the update routes.
    const nodeOf = (query: readonly string[]): string => {
      const node = query.find((argument) => argument.startsWith('node='))?.slice('node='.length);
      if (node === undefined) throw new ResponseError(ResponseCode.Forbidden, 'name the node with ?node=ID', { diagnostic: 'no ?node=ID' });
      return node;
    };
    router.add('/updates', {
      observable: true,
      handlers: {
        GET: (request) => {
          nodeOf(request.query);
          return json({ updates: this.#updates.map((offer) => ({ ...offer.manifest, rollout: offer.rollout, image_ready: offer.imageReady })) });
        },
      },
    });
    router.add('/updates/{id}/status', {
      handlers: {
        PUT: (request) => {
          nodeOf(request.query);
          const list = this.statuses.get(request.params.id!) ?? [];
          list.push(body<StatusReport>(request.payload));
          this.statuses.set(request.params.id!, list);
          return { code: ResponseCode.Changed };
        },
      },
    });
    router.add('/updates/{id}/download', {
      handlers: {
        GET: async (request) => {
          const id = request.params.id!;
          const offer = this.#updates.find((candidate) => candidate.manifest.update_id === id);
          if (offer === undefined || !offer.imageReady) throw new ResponseError(ResponseCode.NotFound, 'no image yet');
          const checksum = String(offer.manifest.checksum).slice('sha256:'.length);
          const size = (await readFile(offer.imagePath)).length;
          const file = fileBody(offer.imagePath, size);
          // Counted where a block is read to be sent, so lock-step Block2 (one block per
          // request) and Q-Block2 (a burst per request) are counted alike.
          const read = async (offset: number, length: number): Promise<Buffer> => {
            const num = Math.floor(offset / SERVED_BLOCK_SIZE);
            this.served.set(id, [...(this.served.get(id) ?? []), num]);
            await this.beforeBlock(id, num);
            return this.alterBlock(id, num, await file.read(offset, length));
          };
          const body = { size, read };
          return {
            code: ResponseCode.Content, body, contentFormat: ContentFormat.OctetStream,
            etag: this.etags.get(id) ?? Buffer.from(checksum.slice(0, 16), 'hex'),
          };
        },
      },
    });
    router.add('/updates/{id}/install', {
      handlers: {
        POST: (request) => {
          nodeOf(request.query);
          const id = request.params.id!;
          this.installAsks.set(id, [...(this.installAsks.get(id) ?? []), Date.now()]);
          const answer = this.installAnswers.get(id)?.shift() ?? { code: ResponseCode.Changed };
          return {
            code: answer.code, ...(answer.maxAge === undefined ? {} : { maxAge: answer.maxAge }),
            ...(answer.diagnostic === undefined ? {} : { payload: answer.diagnostic }),
          };
        },
      },
    });
  }
}

/** A publisher key pair, written as PEM files the agent config can point at. */
export interface Publisher {
  readonly privateKey: KeyObject;
  readonly publicKeyPath: string;
}

export async function makePublisher(directory: string, name = 'publisher'): Promise<Publisher> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPath = join(directory, `${name}.pub.pem`);
  await writeFile(publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey, publicKeyPath };
}

/** A random image of `size` bytes on disk and its signed manifest: format 1, or format 2
 * with the hashes of its chunks when `chunkSize` is given. */
export async function makeImage(
  directory: string, publisher: Publisher,
  fields: { updateId: string; version: string; size: number; targets?: string[]; chunkSize?: number },
): Promise<{ manifest: Manifest; imagePath: string; sha256: string }> {
  const { chunkSize } = fields;
  const image = Buffer.alloc(fields.size);
  for (let i = 0; i + 4 <= image.length; i += 4) image.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ fields.size) >>> 0, i);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const imagePath = join(directory, `${fields.updateId}.img`);
  await writeFile(imagePath, image);
  const manifest = signManifest({
    update_id: fields.updateId, version: fields.version, size: fields.size, checksum: `sha256:${sha256}`,
    target_nodes: fields.targets ?? ['n1'], policy: DEFAULT_POLICY, ...(chunkSize === undefined ? {} : {
      manifest_version: 2, chunk_size: chunkSize,
      chunks: Array.from({ length: Math.ceil(fields.size / chunkSize) }, (_, i) => createHash('sha256').update(image.subarray(i * chunkSize, (i + 1) * chunkSize)).digest('hex')),
    }),
  }, publisher.privateKey);
  return { manifest, imagePath, sha256 };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
