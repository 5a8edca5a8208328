import WebSocket from 'ws';
import { LIVE_CLOSE, LIVE_MAX_PAYLOAD, liveServerMessageSchema, type LivePage } from '../protocol/index.ts';
import { backoffDelay } from './run-loop.ts';
import { TLS_MIN_VERSION } from './hub-client.ts';

/** Where the live connection stands: open; being opened (again); or not opening, so the node syncs on its interval and retries in the background. */
export type LiveState = 'connected' | 'connecting' | 'fallback-interval';

export interface LiveStatus {
  state: LiveState;
  /** why it is not connected (the last failure), null when connected */
  reason: string | null;
  /** when the state last changed (ISO) */
  since: string;
  /** the next attempt to open the socket (ISO), when one is scheduled */
  retryAt: string | null;
}

export interface LiveClientOptions {
  /** the hub's base URL (http:// or https://) */
  hubUrl: string;
  token: string;
  /** PEM CA for an https:// hub */
  ca?: string;
  /** how long opening the socket (TCP, TLS and the upgrade) may take before it counts as failed; default 5 s */
  connectTimeoutMs?: number;
  /** first reconnect delay, doubling to maxBackoffMs, with jitter (run-loop.ts's backoffDelay); defaults 500 ms and 30 s */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  /** a socket silent this long (the hub pings every 30 s) is taken for dead; default 75 s */
  idleTimeoutMs?: number;
  /** a poke: the hub's head, and the commit's changes when the hub sent them (a page this node may apply without pulling) */
  onPoke: (head: number, page?: LivePage) => void;
  /** the socket opened (the hub's head then) */
  onOpen?: (head: number) => void;
  onStatus?: (s: LiveStatus) => void;
  /** the hub refused the credential (401 on upgrade) or closed the socket for a revocation */
  onUnauthorized?: () => void;
}

/**
 * The node's end of `GET /v1/live`: opens the socket with the node's bearer
 * token, hands pokes on, and opens it again after any failure with an
 * exponential backoff with jitter. While it cannot open (a proxy refusing
 * upgrades with 4xx/5xx, a timeout, the hub down) its status says
 * `fallback-interval`, with the reason: the loop syncs on its interval then.
 */
export class LiveClient {
  readonly #o: LiveClientOptions;
  #ws: WebSocket | null = null;
  #status: LiveStatus;
  #attempt = 0;
  #retry: NodeJS.Timeout | null = null;
  #idle: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(o: LiveClientOptions) {
    this.#o = o;
    this.#status = { state: 'connecting', reason: null, since: new Date().toISOString(), retryAt: null };
  }

  get status(): LiveStatus {
    return { ...this.#status };
  }

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  /** Tell the hub this node applied pages up to `cursor` (best effort: a pull tells it too). */
  ack(cursor: number): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'ack', cursor }));
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#idle) clearTimeout(this.#idle);
    this.#ws?.terminate();
    this.#ws = null;
  }

  #set(state: LiveState, reason: string | null, retryAt: number | null = null): void {
    this.#status = { state, reason, since: state === this.#status.state ? this.#status.since : new Date().toISOString(), retryAt: retryAt === null ? null : new Date(retryAt).toISOString() };
    this.#o.onStatus?.(this.status);
  }

  #open(): void {
    if (this.#stopped) return;
    // `pages=1`: pokes may carry the commit's changes (a hub that does not know it ignores it).
    const url = `${this.#o.hubUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/live?pages=1`;
    const tls = url.startsWith('wss:') ? { minVersion: TLS_MIN_VERSION, ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}) } as const : {};
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.#o.token}` },
      handshakeTimeout: this.#o.connectTimeoutMs ?? 5000,
      maxPayload: LIVE_MAX_PAYLOAD,
      perMessageDeflate: false,
      ...tls,
    });
    this.#ws = ws;
    let opened = false;
    let failure: string | null = null;
    ws.on('unexpected-response', (_req, res) => {
      // The upgrade was answered with plain HTTP: a proxy that does not pass WebSockets, or the hub refusing.
      failure = `the upgrade to WebSocket was answered with HTTP ${res.statusCode ?? '?'}${res.statusCode === 401 ? ' (credential refused)' : ''}`;
      if (res.statusCode === 401) this.#o.onUnauthorized?.();
      res.resume();
      ws.terminate();
    });
    ws.on('error', (e: Error & { code?: string }) => {
      failure ??= /timed out|timeout/i.test(e.message) ? `no WebSocket within ${(this.#o.connectTimeoutMs ?? 5000) / 1000} s` : e.code ?? e.message;
    });
    ws.on('open', () => {
      opened = true;
      this.#attempt = 0;
      this.#touch();
    });
    ws.on('ping', () => this.#touch());
    ws.on('message', (data, isBinary) => {
      this.#touch();
      let msg: unknown;
      try {
        msg = isBinary ? null : JSON.parse(String(data));
      } catch {
        msg = null;
      }
      const r = liveServerMessageSchema.safeParse(msg);
      if (!r.success) return; // a newer hub's message this node does not know: ignored
      if (r.data.type === 'hello') {
        this.#set('connected', null);
        ws.send(JSON.stringify({ type: 'hello' }));
        this.#o.onOpen?.(r.data.head);
      } else this.#o.onPoke(r.data.head, r.data.page);
    });
    ws.on('close', (code, reason) => {
      if (this.#idle) clearTimeout(this.#idle);
      if (this.#ws === ws) this.#ws = null;
      if (this.#stopped) return;
      if (code === LIVE_CLOSE.revoked) this.#o.onUnauthorized?.();
      const why = failure ?? (opened ? `the hub closed the live connection (${code}${reason.length ? ` ${reason.toString()}` : ''})` : 'the connection failed');
      const delay = backoffDelay(this.#attempt++, this.#o.baseBackoffMs ?? 500, this.#o.maxBackoffMs ?? 30_000, this.#o.random ?? Math.random);
      // A socket that was up and dropped is reopened at once (then backs off); one that would not open means interval sync meanwhile.
      this.#set(opened ? 'connecting' : 'fallback-interval', why, Date.now() + delay);
      this.#retry = setTimeout(() => this.#open(), opened ? Math.min(delay, 250) : delay);
      this.#retry.unref?.();
    });
  }

  /** Traffic from the hub: the socket is alive. */
  #touch(): void {
    if (this.#idle) clearTimeout(this.#idle);
    const ws = this.#ws;
    this.#idle = setTimeout(() => ws?.terminate(), this.#o.idleTimeoutMs ?? 75_000);
    this.#idle.unref?.();
  }
}
