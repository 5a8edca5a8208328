import { checkCaPem } from '../protocol/tls.ts';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Agent } from 'undici';
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
  /**
   * PEM certificate(s) of the CA that signed the hub's certificate (`--ca`):
   * when given, only it is trusted for an https:// hub; otherwise Node's
   * trust store (its bundled Mozilla roots plus NODE_EXTRA_CA_CERTS).
   */
  ca?: string;
}

/** The oldest TLS version either side accepts. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/**
 * What the last page of a push group may take beyond the request timeout,
 * per change of the group: the hub applies the whole group then (a
 * 200,000-row group took a MariaDB hub with a cold 128 MiB buffer pool over
 * 60 s). 1 ms per change: 200 s more for 200,000 changes.
 */
const COMMIT_MS_PER_CHANGE = 1;

/** The node's side of protocol v1 over HTTP: JSON bodies, gzip both ways. */
export class HubClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #ca: string | undefined;
  /** fetch's connections to an https:// hub: the private CA and the minimum TLS version */
  readonly #dispatcher: Agent | undefined;

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
    if (opts.ca !== undefined) {
      if (u.protocol !== 'https:') throw new OutpostError('TLS_CONFIG_INVALID', `a CA certificate (--ca) was given, but the hub URL ${this.baseUrl} is not https://`);
      checkCaPem(opts.ca);
      this.#ca = opts.ca;
    }
    this.#dispatcher = u.protocol === 'https:' ? dispatcherFor(this.#ca) : undefined;
  }

  join(code: string): Promise<JoinResponse> {
    return this.#json('POST', '/v1/join', { code });
  }

  /** A new credential: `{}` with this client's token, or `{ code, nodeId }` with a re-key code (docs/protocol.md, POST /v1/rotate). */
  rotate(req: RotateRequest): Promise<JoinResponse> {
    return this.#json('POST', '/v1/rotate', req);
  }

  /** `GET /v1/status`: the node's lag (and, from hubs since issue 8, its open conflicts and quarantined changes); the first request with a rotated token confirms the rotation. */
  status(): Promise<{ nodeId: string; logSeq: number; lag: number; conflictsOpen?: number; quarantineOpen?: number }> {
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
  push(req: PushRequest, changesJson?: readonly string[], groupChanges = req.changes.length): Promise<PushResponse> {
    // The last page of a group is answered once the hub has applied the whole group: its wait grows with it.
    const timeoutMs = req.page === req.pages - 1 ? this.#timeoutMs + groupChanges * COMMIT_MS_PER_CHANGE : this.#timeoutMs;
    if (!changesJson) return this.#json('POST', '/v1/push', req, timeoutMs);
    const { changes: _, ...envelope } = req;
    return this.#json('POST', '/v1/push', new EncodedJson(`${JSON.stringify(envelope).slice(0, -1)},"changes":[${changesJson.join(',')}]}`), timeoutMs);
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
          const tls = url.protocol === 'https:' ? { minVersion: TLS_MIN_VERSION, ...(this.#ca !== undefined ? { ca: this.#ca } : {}) } as const : {};
          const req = get(url, { method: 'GET', headers, signal, ...tls }, resolve);
          req.once('error', reject);
          req.end();
        });
        break;
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        // As in #fetch: a kept-alive connection the hub closed fails before any reply; send once more.
        if (attempt === 1 && RETRY_ONCE.has(code) && !signal.aborted) continue;
        const tls = tlsError(this.baseUrl, code, (e as Error).message, this.#ca !== undefined);
        if (tls) throw tls;
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

  async #json<T>(method: string, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<T> {
    const res = await this.#fetch(method, path, body, timeoutMs);
    try {
      return (await res.json()) as T;
    } catch (e) {
      const why = (e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e as Error).message;
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
          ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
        } as RequestInit);
        break;
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        // A kept-alive connection the hub closed (it restarted, say) fails the
        // next request on it before any reply: that one is sent once more on a
        // new connection. Every request but join and rotate is idempotent (a
        // push the hub committed is acknowledged again, not applied twice).
        if (attempt === 1 && path !== '/v1/join' && path !== '/v1/rotate' && RETRY_ONCE.has(cause?.code ?? '') && !signal?.aborted) continue;
        const tls = tlsError(this.baseUrl, cause?.code ?? '', cause?.message ?? '', this.#ca !== undefined);
        if (tls) throw tls;
        const timedOut = (e as Error).name === 'TimeoutError' || signal?.aborted;
        const why = signal?.aborted && signal.reason instanceof Error ? signal.reason.message : timedOut ? `no answer within ${(timeoutMs ?? this.#timeoutMs) / 1000} s` : cause?.code ?? cause?.message ?? (e as Error).message;
        throw new OutpostError('HUB_UNREACHABLE', `cannot reach the hub at ${this.baseUrl}: ${why}${path === '/v1/join' ? plainHint(this.baseUrl, cause?.code ?? '') : ''}`);
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
  // The problem's context members (e.g. CLOCK_AHEAD's hubTimeMs) travel on as details.
  const { type: _t, title: _ti, code: _c, detail: _d, status: _s, ...context } = problem as Record<string, unknown>;
  return new OutpostError(code, `hub: ${problem.detail ?? `HTTP ${status}`}`, { ...context, status });
}

/** How far (bytes of decoded body) the snapshot stream is read ahead of the lines the node has taken. */
const READ_AHEAD = 8 * 1024 * 1024;

/** A request body already encoded as JSON text. */
class EncodedJson {
  constructor(readonly text: string) {}
}

/** Connection errors after which a request is sent once more. */
const RETRY_ONCE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** One undici Agent per CA (and one for the default trust store), shared by every client of this process: connections are kept alive across syncs. */
const DISPATCHERS = new Map<string, Agent>();

function dispatcherFor(ca: string | undefined): Agent {
  const key = ca ?? '';
  let agent = DISPATCHERS.get(key);
  if (!agent) {
    agent = new Agent({ connect: { minVersion: TLS_MIN_VERSION, ...(ca !== undefined ? { ca } : {}) } });
    DISPATCHERS.set(key, agent);
  }
  return agent;
}

export { checkCaPem };

/** Certificate verification failures (OpenSSL's names, as Node reports them), and what they mean. */
const CERT_ERRORS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT: 'the CA that signed its certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the CA that signed its certificate is not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in a CA that is not trusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed and not trusted',
  CERT_UNTRUSTED: 'its certificate is not trusted',
  CERT_SIGNATURE_FAILURE: "its certificate's signature does not verify",
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  CERT_REVOKED: 'its certificate is revoked',
  INVALID_CA: 'a CA certificate in its chain is not valid as a CA',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name this host',
};

/**
 * A TLS failure as HUB_TLS_FAILED, with what went wrong in words and OpenSSL's
 * code; null for any other connection error. Never quotes a certificate.
 */
export function tlsError(baseUrl: string, code: string, message: string, privateCa: boolean): OutpostError | null {
  const cert = CERT_ERRORS[code];
  if (cert) {
    const fix = privateCa ? 'check that --ca names the CA that signed the hub\'s certificate' : 'if the hub\'s certificate is signed by a private CA, give that CA with --ca FILE';
    const what = code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? 'its certificate does not name this host (use the host name or address the certificate was made for)' : cert;
    return new OutpostError('HUB_TLS_FAILED', `the hub at ${baseUrl} is not trusted: ${what} [${code}]; ${fix}`, { tls: code });
  }
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW/i.test(code) || /protocol version|unsupported protocol/i.test(message)) {
    return new OutpostError('HUB_TLS_FAILED', `no common TLS version with the hub at ${baseUrl} (Outpost needs TLS 1.2 or newer) [${code || 'TLS'}]`, { tls: code });
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message)) {
    return new OutpostError('HUB_TLS_FAILED', `the hub at ${baseUrl} does not answer TLS (if it serves plain HTTP, use http://) [${code || 'TLS'}]`, { tls: code });
  }
  return null;
}

/** On joining (the first contact with a hub URL), a hint for a plain-HTTP request the other side cut off, as an HTTPS hub does. */
function plainHint(baseUrl: string, code: string): string {
  return baseUrl.startsWith('http:') && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') ? ' (if the hub serves HTTPS, use https://)' : '';
}
