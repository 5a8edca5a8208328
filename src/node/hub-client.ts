import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import {
  ERROR_CODES, GZIP_LEVEL, OutpostError, type ErrorCode, type HandshakeRequest, type HandshakeResponse, type JoinResponse,
  type PullResponse, type PushRequest, type RotateRequest, type PushResponse, type VerifyFetchRequest, type VerifyFetchResponse,
  type VerifyRowsRequest, type VerifyRowsResponse, type VerifySumsRequest, type VerifySumsResponse,
} from '../protocol/index.ts';

export interface HubClientOptions {
  /** per-request timeout; for the streamed snapshot, the longest wait for its next bytes */
  timeoutMs?: number;
}

/** The node's side of protocol v1 over HTTP: JSON bodies, gzip both ways. */
export class HubClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, token?: string, opts: HubClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(baseUrl);
    } catch {
      throw new OutpostError('BAD_REQUEST', `not a hub URL: ${JSON.stringify(baseUrl)} (expected http://host:port)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new OutpostError('BAD_REQUEST', `hub URL must be http:// or https://, got ${u.protocol}`);
    this.baseUrl = u.toString().replace(/\/$/, '');
    this.#token = token;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
  }

  join(code: string): Promise<JoinResponse> {
    return this.#json('POST', '/v1/join', { code });
  }

  /** A new credential: `{}` with this client's token, or `{ code, nodeId }` with a re-key code (docs/protocol.md, POST /v1/rotate). */
  rotate(req: RotateRequest): Promise<JoinResponse> {
    return this.#json('POST', '/v1/rotate', req);
  }

  /** `GET /v1/status`: the node's lag; the first request with a rotated token confirms the rotation. */
  status(): Promise<{ nodeId: string; logSeq: number; lag: number }> {
    return this.#json('GET', '/v1/status');
  }

  handshake(req: HandshakeRequest): Promise<HandshakeResponse> {
    return this.#json('POST', '/v1/handshake', req);
  }

  /**
   * `changesJson`, when given, is `req.changes` already JSON-encoded, one
   * string per change (the node measured each to size its pages): the body is
   * put together from them instead of encoding every change a second time.
   */
  push(req: PushRequest, changesJson?: readonly string[]): Promise<PushResponse> {
    if (!changesJson) return this.#json('POST', '/v1/push', req);
    const { changes: _, ...envelope } = req;
    return this.#json('POST', '/v1/push', new EncodedJson(`${JSON.stringify(envelope).slice(0, -1)},"changes":[${changesJson.join(',')}]}`));
  }

  pull(after: number, limit?: number): Promise<PullResponse> {
    const q = new URLSearchParams({ after: String(after) });
    if (limit) q.set('limit', String(limit));
    return this.#json('GET', `/v1/pull?${q}`);
  }

  verifySums(req: VerifySumsRequest): Promise<VerifySumsResponse> {
    return this.#json('POST', '/v1/verify/sums', req);
  }

  verifyRows(req: VerifyRowsRequest): Promise<VerifyRowsResponse> {
    return this.#json('POST', '/v1/verify/rows', req);
  }

  verifyFetch(req: VerifyFetchRequest): Promise<VerifyFetchResponse> {
    return this.#json('POST', '/v1/verify/fetch', req);
  }

  /**
   * Stream the snapshot's NDJSON lines, parsed, to `each` (awaited line by
   * line when it returns a promise; most lines only join a page, and return
   * nothing). The body is read only as fast as `each` returns, so a hub
   * faster than the node's database never piles lines up in memory.
   */
  async snapshot(each: (line: unknown) => void | Promise<void>): Promise<void> {
    // No limit on the whole stream (it may be long), but on each wait for the
    // hub's next bytes: a connection that goes silent (a partition dropping
    // packets, say) fails instead of hanging. Time spent in `each` (the local
    // apply) does not count.
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const wait = (): void => {
      timer = setTimeout(() => idle.abort(new Error(`no data from the hub for ${this.#timeoutMs / 1000} s`)), this.#timeoutMs);
    };
    const resume = (): void => clearTimeout(timer);
    wait();
    try {
      // node:http, not fetch: fetch's gzip decoding read the body ahead of a
      // slower consumer without bound (60–80 MiB of buffers held during a
      // 300k-row snapshot from a MariaDB hub, the node's peak RSS 508 MiB at
      // 1M rows); a Node stream pipeline reads the socket only as fast as the
      // lines are taken.
      const body = await this.#stream('/v1/snapshot', idle.signal);
      const decoder = new TextDecoder();
      let rest = '';
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          resume();
          const text = rest + decoder.decode(chunk, { stream: true });
          const lines = text.split('\n');
          rest = lines.pop()!;
          for (const line of lines) {
            if (!line) continue;
            const applied = each(JSON.parse(line));
            if (applied) await applied;
          }
          wait();
        }
        resume();
        rest += decoder.decode();
        if (rest) await each(JSON.parse(rest));
      } catch (e) {
        if (e instanceof OutpostError) throw e;
        const why = idle.signal.aborted ? (idle.signal.reason as Error).message : (e as Error).message;
        throw new OutpostError('HUB_UNREACHABLE', `the snapshot stream broke off: ${why}`);
      }
    } finally {
      resume();
    }
  }

  /** GET `path` as a stream of its (gunzipped) body; problems and connection failures as #fetch throws them. */
  async #stream(path: string, signal: AbortSignal): Promise<Readable> {
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'gzip' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const url = new URL(this.baseUrl + path);
    const get = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let res: IncomingMessage;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await new Promise<IncomingMessage>((resolve, reject) => {
          const req = get(url, { method: 'GET', headers, signal }, resolve);
          req.once('error', reject);
          req.end();
        });
        break;
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        // As in #fetch: a kept-alive connection the hub closed fails before any reply; send once more.
        if (attempt === 1 && RETRY_ONCE.has(code) && !signal.aborted) continue;
        const why = signal.aborted && signal.reason instanceof Error ? signal.reason.message : code || (e as Error).message;
        throw new OutpostError('HUB_UNREACHABLE', `cannot reach the hub at ${this.baseUrl}: ${why}`);
      }
    }
    const status = res.statusCode ?? 0;
    const gzip = res.headers['content-encoding'] === 'gzip';
    // pipeline destroys every stage when one fails, so a cut body or bad gzip ends the iteration with that error.
    // Up to READ_AHEAD bytes of the body are read ahead of the lines taken, so the hub produces the next
    // page while the node applies one (the stream's default 16 KiB made them take turns).
    const body: Readable = gzip ? pipeline(res, createGunzip(), new PassThrough({ highWaterMark: READ_AHEAD }), () => {}) : res;
    if (status >= 200 && status < 300) return body;
    let text = '';
    try {
      for await (const c of body as AsyncIterable<Buffer>) text += c.toString();
    } catch {
      /* the problem body is best effort */
    }
    throw problemError(status, text);
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(method, path, body, this.#timeoutMs);
    try {
      return (await res.json()) as T;
    } catch (e) {
      const why = (e as Error).name === 'TimeoutError' ? `no answer within ${this.#timeoutMs / 1000} s` : (e as Error).message;
      throw new OutpostError('HUB_UNREACHABLE', `the hub's reply to ${path} broke off: ${why}`);
    }
  }

  async #fetch(method: string, path: string, body: unknown, timeoutMs: number | null, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'gzip' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let payload: Buffer | undefined;
    if (body !== undefined) {
      const raw = Buffer.from(body instanceof EncodedJson ? body.text : JSON.stringify(body));
      headers['content-type'] = 'application/json';
      if (raw.length > 1024) {
        payload = gzipSync(raw, { level: GZIP_LEVEL });
        headers['content-encoding'] = 'gzip';
      } else payload = raw;
    }
    let res: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await fetch(this.baseUrl + path, {
          method,
          headers,
          body: payload as unknown as BodyInit | undefined,
          signal: signal ?? (timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined),
        });
        break;
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        // A kept-alive connection the hub closed (it restarted, say) fails the
        // next request on it before any reply: that one is sent once more on a
        // new connection. Every request but join and rotate is idempotent (a
        // push the hub committed is acknowledged again, not applied twice).
        if (attempt === 1 && path !== '/v1/join' && path !== '/v1/rotate' && RETRY_ONCE.has(cause?.code ?? '') && !signal?.aborted) continue;
        const timedOut = (e as Error).name === 'TimeoutError' || signal?.aborted;
        const why = signal?.aborted && signal.reason instanceof Error ? signal.reason.message : timedOut ? `no answer within ${(timeoutMs ?? this.#timeoutMs) / 1000} s` : cause?.code ?? cause?.message ?? (e as Error).message;
        throw new OutpostError('HUB_UNREACHABLE', `cannot reach the hub at ${this.baseUrl}: ${why}`);
      }
    }
    if (res.ok) return res;
    let text = '';
    try {
      text = await res.text();
    } catch {
      /* not a problem document */
    }
    throw problemError(res.status, text);
  }
}

/** The OutpostError a hub's problem reply stands for (HUB_ERROR or BAD_REQUEST where it names no known code). */
function problemError(status: number, text: string): OutpostError {
  let problem: { code?: string; detail?: string } = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') problem = parsed as typeof problem;
  } catch {
    /* not a problem document */
  }
  const code: ErrorCode = problem.code && problem.code in ERROR_CODES ? (problem.code as ErrorCode) : status >= 500 ? 'HUB_ERROR' : 'BAD_REQUEST';
  return new OutpostError(code, `hub: ${problem.detail ?? `HTTP ${status}`}`, { status });
}

/** How far (bytes of decoded body) the snapshot stream is read ahead of the lines the node has taken. */
const READ_AHEAD = 8 * 1024 * 1024;

/** A request body already encoded as JSON text. */
class EncodedJson {
  constructor(readonly text: string) {}
}

/** Connection errors after which a request is sent once more. */
const RETRY_ONCE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
