import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Network faults on the hub's side of the wire, per node (told apart by
 * their credential), for failing exactly the n-th request of one node
 * (every-step): a request that never arrives, a reply lost after the hub
 * committed, a request handled twice. Random runs use the fault proxy
 * (bytes cut mid-body, partitions) instead.
 */
export type HttpFaultKind = 'drop' | 'lose-reply' | 'duplicate';
export type Endpoint = 'handshake' | 'push' | 'pull' | 'snapshot';

export interface HttpFault {
  kind: HttpFaultKind;
  /** the endpoint it hits; any when absent */
  endpoint?: Endpoint;
}

export class HttpFaults {
  readonly fired: Record<HttpFaultKind, number> = { drop: 0, 'lose-reply': 0, duplicate: 0 };
  /** requests seen, per token, by endpoint (to count a phase's steps) */
  readonly seen: string[] = [];
  readonly #queued = new Map<string, HttpFault[]>();
  /** fail the n-th request of a token from now, every one after it too when `untilHealed` */
  readonly #nth = new Map<string, { at: number; kind: HttpFaultKind; untilHealed: boolean }>();
  readonly #count = new Map<string, number>();

  /** the next matching request of this node (of any node: token `*`) gets the fault */
  inject(token: string, fault: HttpFault): void {
    this.#queued.set(token, [...(this.#queued.get(token) ?? []), fault]);
  }

  /** the n-th request (1: the next) of this token gets the fault */
  injectNth(token: string, n: number, kind: HttpFaultKind, untilHealed = false): void {
    this.#nth.set(token, { at: (this.#count.get(token) ?? 0) + n, kind, untilHealed });
  }

  heal(): void {
    this.#queued.clear();
    this.#nth.clear();
  }

  /** Install on a hub server before it listens (again after a restart). */
  install(app: FastifyInstance): void {
    const pending = new WeakMap<FastifyRequest, HttpFaultKind>();
    app.addHook('onRequest', async (req, reply) => {
      const token = tokenOf(req);
      const endpoint = endpointOf(req.url);
      if (!token || !endpoint) return;
      const n = (this.#count.get(token) ?? 0) + 1;
      this.#count.set(token, n);
      this.seen.push(endpoint);
      let kind: HttpFaultKind | null = null;
      const nth = this.#nth.get(token);
      if (!kind && nth && n >= nth.at) {
        kind = nth.kind;
        if (!nth.untilHealed) this.#nth.delete(token);
      }
      for (const key of [token, ANY]) {
        if (kind) break;
        const q = this.#queued.get(key) ?? [];
        const i = q.findIndex((f) => !f.endpoint || f.endpoint === endpoint);
        if (i >= 0) kind = q.splice(i, 1)[0]!.kind;
      }
      if (!kind) return;
      if (kind === 'drop') {
        this.fired[kind]++;
        // The request never reaches the hub's handlers; the node sees the connection die.
        req.raw.socket.destroy();
        return reply.hijack();
      }
      pending.set(req, kind);
    });
    app.addHook('onSend', async (req, _reply, payload) => {
      const kind = pending.get(req);
      if (!kind) return payload;
      pending.delete(req);
      this.fired[kind]++;
      if (kind === 'lose-reply') {
        // The hub has done the work (and committed); the reply never arrives.
        req.raw.socket.destroy();
      } else if (kind === 'duplicate') {
        // The same request arrives once more, after the first was handled.
        await app.inject({
          method: req.method as 'GET' | 'POST',
          url: req.url,
          headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
          ...(req.body === undefined ? {} : { payload: JSON.stringify(req.body) }),
        });
      }
      return payload;
    });
  }
}

/** `inject` to any node */
export const ANY = '*';

function tokenOf(req: FastifyRequest): string | null {
  const m = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1] ?? null;
}

function endpointOf(url: string): Endpoint | null {
  const m = /^\/v1\/(handshake|push|pull|snapshot)\b/.exec(url);
  return (m?.[1] as Endpoint | undefined) ?? null;
}
