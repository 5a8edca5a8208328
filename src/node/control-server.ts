import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OutpostError, isOutpostError, toProblem } from '../protocol/index.ts';
import { asOutpostError, sendProblem } from '../hub/problem.ts';
import type { NodeAgent, SyncSummary } from './agent.ts';
import { nodeStatusReport, type NodeStatusReport } from './status-report.ts';

/** The only address the control endpoint listens on. */
export const CONTROL_HOST = '127.0.0.1';
/** Request bodies larger than this are refused (POST /sync takes `{}` at most). */
export const CONTROL_BODY_LIMIT = 1024;

export interface ControlOptions {
  /** 0: any free port (the one taken is in `port` of the result) */
  port: number;
  /** require `Authorization: Bearer TOKEN` with this token (see `controlToken`) */
  token?: string;
}

export interface ControlServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The token of `--control-token-file FILE`: read from the file, or made (32
 * random bytes, base64url) and written there with mode 0600 when the file
 * does not exist. A desktop app reads the same file.
 */
export function controlToken(file: string): string {
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length < 16) throw new OutpostError('BAD_REQUEST', `--control-token-file ${file} holds no token of 16 characters or more`);
    return t;
  }
  const t = randomBytes(32).toString('base64url');
  writeFileSync(file, t + '\n', { mode: 0o600, flag: 'wx' });
  return t;
}

const sameToken = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The node agent's local HTTP endpoint for a desktop app (docs/operations.md):
 * `POST /sync` runs a sync now (or joins the one under way) and answers with
 * its summary; `GET /status` answers what `outpost status --json` prints.
 * Listens on 127.0.0.1 only; refuses requests from web pages (an `Origin`
 * header) and for other host names (DNS rebinding); bodies of 1 KiB at most;
 * with a token, every request must carry it. Errors are problem+json.
 */
export async function startControlServer(agent: NodeAgent, o: ControlOptions): Promise<ControlServer> {
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: CONTROL_BODY_LIMIT,
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => void sendProblem(reply, asOutpostError(err)),
  });
  let port = o.port;
  // JSON only: a text/plain body (what a page can send without asking) is 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err, _req, reply) => sendProblem(reply, asOutpostError(err)));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, new OutpostError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}; the control endpoint has POST /sync and GET /status`)));
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.origin !== undefined) return sendProblem(reply, new OutpostError('CONTROL_REFUSED', 'requests from web pages (with an Origin header) are refused'));
    const host = String(req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return sendProblem(reply, new OutpostError('CONTROL_REFUSED', `host ${JSON.stringify(host.slice(0, 100))} is not this endpoint (127.0.0.1:${port})`));
    if (o.token !== undefined) {
      const m = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''));
      if (!m || !sameToken(m[1]!, o.token)) return sendProblem(reply, new OutpostError('UNAUTHORIZED', 'send the token of --control-token-file as Authorization: Bearer TOKEN'));
    }
  });

  app.get('/status', async (): Promise<NodeStatusReport> => nodeStatusReport(agent));
  app.post('/sync', async (req, reply) => {
    const body = req.body;
    if (body !== undefined && body !== null && !(typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) {
      throw new OutpostError('VALIDATION_FAILED', 'POST /sync takes no body, or {}');
    }
    const joined = agent.syncingSince !== null;
    let summary: SyncSummary;
    try {
      summary = await agent.sync();
    } catch (e) {
      // The sync failed: 502 (the agent is fine, the sync is not), with the
      // sync's own code, and the state it leaves the node in.
      const err = isOutpostError(e) ? e : new OutpostError('INTERNAL', (e as Error).message);
      const status = await nodeStatusReport(agent).catch(() => null);
      const problem = { ...toProblem(err), status: 502, state: status?.state ?? null };
      return reply.code(502).type('application/problem+json').send(JSON.stringify(problem));
    }
    return { ok: true, joined, ...summary };
  });

  await app.listen({ host: CONTROL_HOST, port: o.port });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    port,
    url: `http://${CONTROL_HOST}:${port}`,
    close: () => app.close(),
  };
}
