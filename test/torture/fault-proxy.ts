import { Agent, createServer, request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A TCP fault proxy of our own between nodes and the hub, on 127.0.0.1.
 *
 * It speaks HTTP/1.1 (keep-alive on both sides) and forwards bodies raw:
 * gzip and chunked NDJSON pass through untouched. Each request takes the first
 * injected rule whose path prefix matches it and still has times left:
 *
 * - `delay`          wait `delayMs`, then forward as usual;
 * - `drop`           the hub never sees the request; the client's connection is destroyed;
 * - `reset-request`  the headers and the first half of the body reach the hub, then both
 *                    connections are destroyed (the hub sees a truncated body; a request
 *                    without a body never reaches the hub, as with `drop`);
 * - `reset-response` the hub's whole request arrives; its reply is cut after half its body
 *                    (half of Content-Length, or half of the first chunk of a streamed body)
 *                    and the client's connection is destroyed;
 * - `lose-reply`     the hub gets the whole request and its whole reply is read (it has
 *                    committed), then the client's connection is destroyed without it;
 * - `duplicate`      the request is sent to the hub twice, one after the other; the client
 *                    gets the second reply.
 *
 * `partition(true)` cuts every open connection and refuses new ones until
 * `partition(false)` or `heal()`.
 */
export type FaultKind = 'delay' | 'drop' | 'reset-request' | 'reset-response' | 'lose-reply' | 'duplicate';

export interface FaultRule {
  kind: FaultKind;
  /** a path prefix such as '/v1/push'; default: every request */
  path?: string;
  /** how many requests it applies to; default 1, Infinity until healed */
  times?: number;
  /** for `delay`; default 100 */
  delayMs?: number;
}

const FAULT_KINDS: readonly FaultKind[] = ['delay', 'drop', 'reset-request', 'reset-response', 'lose-reply', 'duplicate'];
/** Hop-by-hop headers: each side of the proxy has its own connection and framing. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

interface HubReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class FaultProxy {
  readonly url: string;
  readonly fired: Record<FaultKind, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly #server: Server;
  readonly #clients = new Set<Socket>();
  readonly #upstream = new Set<ClientRequest>();
  #rules: (FaultRule & { left: number })[] = [];
  #partitioned = false;
  #closed = false;
  /** wake-ups of requests held by `delay`, called early by close() */
  readonly #held = new Set<() => void>();
  #target: URL;
  #agent = new Agent({ keepAlive: true });

  private constructor(server: Server, url: string, target: URL) {
    this.#server = server;
    this.url = url;
    this.#target = target;
  }

  static async start(target: string): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const proxy = new FaultProxy(server, `http://127.0.0.1:${port}`, new URL(target));
    server.on('connection', (s: Socket) => proxy.#accept(s));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void proxy.#handle(req, res));
    server.on('clientError', (_e, s: Socket) => s.destroy());
    return proxy;
  }

  inject(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!(times > 0)) throw new Error(`a fault rule needs times > 0, got ${times}`);
    this.#rules.push({ ...rule, left: times });
  }

  /** whether a partition is on */
  get partitioned(): boolean {
    return this.#partitioned;
  }

  partition(on: boolean): void {
    this.#partitioned = on;
    if (!on) return;
    for (const s of this.#clients) s.destroy();
    for (const r of this.#upstream) r.destroy();
  }

  retarget(target: string): void {
    this.#target = new URL(target);
    this.#agent.destroy();
    this.#agent = new Agent({ keepAlive: true });
  }

  heal(): void {
    this.#rules = [];
    this.#partitioned = false;
  }

  async close(): Promise<void> {
    this.heal();
    this.#closed = true;
    for (const wake of this.#held) wake();
    for (const s of this.#clients) s.destroy();
    for (const r of this.#upstream) r.destroy();
    this.#agent.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #accept(s: Socket): void {
    if (this.#partitioned) {
      s.destroy();
      return;
    }
    this.#clients.add(s);
    s.on('error', () => undefined);
    s.once('close', () => this.#clients.delete(s));
  }

  /** The first rule for this path with times left, used up by one. */
  #take(path: string): FaultRule | undefined {
    const i = this.#rules.findIndex((r) => r.left > 0 && (r.path === undefined || path.startsWith(r.path)));
    if (i < 0) return undefined;
    const rule = this.#rules[i]!;
    if (--rule.left <= 0) this.#rules.splice(i, 1);
    return rule;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = req.socket;
    const cut = (): void => void client.destroy();
    let body: Buffer;
    try {
      body = await readAll(req);
    } catch {
      return cut();
    }
    if (this.#partitioned) return cut();
    const rule = this.#take(req.url ?? '/');
    try {
      switch (rule?.kind) {
        case 'drop':
          this.fired.drop++;
          return cut();
        case 'reset-request':
          this.fired['reset-request']++;
          if (body.length > 0) await this.#truncated(req, body);
          return cut();
        case 'reset-response':
          this.fired['reset-response']++;
          return await this.#forwardCut(req, body, res, cut);
        case 'lose-reply':
          await this.#exchange(req, body);
          this.fired['lose-reply']++;
          return cut();
        case 'duplicate': {
          await this.#exchange(req, body);
          this.fired.duplicate++;
          return reply(res, await this.#exchange(req, body));
        }
        case 'delay':
          this.fired.delay++;
          await this.#hold(rule.delayMs ?? 100);
          if (this.#partitioned || this.#closed) return cut();
          return reply(res, await this.#exchange(req, body));
        default:
          return reply(res, await this.#exchange(req, body));
      }
    } catch {
      // the hub is down, cut off or closed the connection: the client sees a broken connection too
      cut();
    }
  }

  #hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#held.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#held.add(wake);
    });
  }

  #open(req: IncomingMessage, length: number): ClientRequest {
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    headers.host = this.#target.host;
    if (length > 0 || req.headers['content-length'] !== undefined) headers['content-length'] = String(length);
    const out = request({ host: this.#target.hostname, port: this.#target.port, path: req.url, method: req.method, headers, agent: this.#agent });
    this.#upstream.add(out);
    out.once('close', () => this.#upstream.delete(out));
    return out;
  }

  /** One full round trip to the hub: the whole request, the whole reply. */
  #exchange(req: IncomingMessage, body: Buffer): Promise<HubReply> {
    return new Promise((resolve, reject) => {
      const out = this.#open(req, body.length);
      out.once('error', reject);
      out.once('response', (r: IncomingMessage) => {
        readAll(r).then((b) => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: b }), reject);
      });
      out.end(body);
    });
  }

  /** Headers and half the body, then the connection to the hub is destroyed. */
  async #truncated(req: IncomingMessage, body: Buffer): Promise<void> {
    const out = this.#open(req, body.length);
    out.on('error', () => undefined);
    // destroy() after the write's callback: the half body is in the kernel, and goes out before the FIN
    await new Promise<void>((r) => out.write(body.subarray(0, Math.floor(body.length / 2)), () => r()));
    out.destroy();
  }

  /** Forward the request whole; pass the reply's head and half its body on, then cut. */
  #forwardCut(req: IncomingMessage, body: Buffer, res: ServerResponse, cut: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const out = this.#open(req, body.length);
      out.once('error', reject);
      out.once('response', (r: IncomingMessage) => {
        const declared = Number(r.headers['content-length'] ?? NaN);
        res.writeHead(r.statusCode ?? 502, endToEnd(r.headers));
        res.flushHeaders();
        let budget = Number.isFinite(declared) ? Math.floor(declared / 2) : -1;
        let stopped = false;
        let flushed = Promise.resolve();
        const stop = (): void => {
          if (stopped) return;
          stopped = true;
          r.destroy();
          out.destroy();
          // the partial body is handed to the kernel first, then the connection is cut
          void flushed.then(() => (cut(), resolve()));
        };
        r.on('error', () => undefined);
        r.on('data', (chunk: Buffer) => {
          if (stopped) return;
          if (budget < 0) budget = Math.floor(chunk.length / 2);
          const part = chunk.subarray(0, budget);
          budget -= part.length;
          if (part.length > 0) flushed = new Promise((w) => res.write(part, () => w()));
          if (budget <= 0) stop();
        });
        r.once('end', stop);
      });
      out.end(body);
    });
  }
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function reply(res: ServerResponse, r: HubReply): void {
  const headers = endToEnd(r.headers);
  headers['content-length'] = String(r.body.length);
  res.writeHead(r.status, headers);
  res.end(r.body);
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
    stream.once('close', () => { if (!stream.complete) reject(new Error('the connection closed mid-body')); });
  });
}
