import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import compress from '@fastify/compress';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { constants as zlibConstants } from 'node:zlib';
import type { Logger } from 'pino';
import {
  GZIP_LEVEL, OutpostError, PROTOCOL_VERSION, isReservedKey, handshakeRequestSchema, parsePushRequest,
  verifyFetchRequestSchema, verifyRowsRequestSchema, verifySumsRequestSchema,
} from '../protocol/index.ts';
import type { NodeRecord } from '../adapters/adapter.ts';
import type { Hub } from './hub.ts';
import { asOutpostError, sendProblem } from './problem.ts';
import { HubMetrics } from './metrics.ts';
import { authenticate } from './enrollment.ts';
import { verifyFetch, verifyRows, verifySums } from './hub-verify.ts';
import { adminGuard, bearer } from './admin-auth.ts';
import { registerCredentialRoutes } from './credential-routes.ts';
import { FailureLimiter, type FailureLimitOptions } from './rate-limit.ts';
import { registerConflictRoutes } from './conflict-routes.ts';
import { registerQuarantineRoutes } from './quarantine-routes.ts';
import { registerLive, type LiveOptions } from './live-routes.ts';
import type { LiveHub } from './live.ts';
import { openFanout, type Fanout } from './fanout.ts';
import { registerNodeRoutes } from './node-routes.ts';
import { HubLifecycle, registerHealthRoutes } from './health.ts';
import { nodeOpenCounts } from './node-report.ts';

export interface ServerOptions {
  logger?: Logger | false;
  /** the admin API's automation token (`OUTPOST_ADMIN_TOKEN`, admin role); absent: only admin sessions (with no admin account either, ADMIN_DISABLED) */
  adminToken?: string;
  /** serve HTTPS (TLS 1.2 or newer) with this certificate (chain) and private key, PEM */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** the clock of code expiry, sessions and the failure limits (tests move it) */
  now?: () => number;
  /** how long an admin session lasts (default 8 hours) */
  sessionTtlMs?: number;
  /** failed joins and logins allowed per client address (default 10 a minute) */
  failureLimit?: FailureLimitOptions;
  /** live mode (`GET /v1/live`): the poke filter and timers (docs/live.md) */
  live?: LiveOptions;
  /** how commits reach the other hub processes; default: the config's `fanout` (none: this process alone) */
  fanout?: Fanout;
  /** set when the process shuts down: `/readyz` fails and new requests get SHUTTING_DOWN (health.ts) */
  lifecycle?: HubLifecycle;
}

export { HUB_TLS_MIN_VERSION } from '../protocol/tls.ts';
import { HUB_TLS_MIN_VERSION } from '../protocol/tls.ts';

declare module 'fastify' {
  interface FastifyRequest {
    node?: NodeRecord;
  }
  interface FastifyInstance {
    /** the hub's live sockets (`GET /v1/live`) */
    live: LiveHub;
  }
}

/** The hub's HTTP API (protocol v1, docs/protocol.md). */
export async function buildServer(hub: Hub, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const base = {
    bodyLimit: hub.config.limits.bodyBytes,
    // Errors Fastify raises before routing (a URL that is not valid percent-encoding) are problems too.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => void sendProblem(reply, asOutpostError(err)),
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key, minVersion: HUB_TLS_MIN_VERSION } as const } : {}),
  };
  const app: FastifyInstance = opts.logger
    ? (Fastify({ ...base, loggerInstance: opts.logger }) as unknown as FastifyInstance)
    : (Fastify({ ...base, logger: false }) as unknown as FastifyInstance);

  // Replies are gzip'd when the peer accepts it; nodes send gzip bodies, which
  // are inflated as they stream in, and the body limit counts the inflated
  // bytes (no zip bombs).
  await app.register(compress, {
    global: true,
    threshold: 1024,
    encodings: ['gzip', 'identity'],
    // JSON replies and the NDJSON snapshot stream (not in the plugin's default list).
    customTypes: /^(application\/(json|x-ndjson|problem\+json)|text\/)/,
    // Flush at every write, so a streamed snapshot page reaches the node as it is produced.
    zlibOptions: { flush: zlibConstants.Z_SYNC_FLUSH, level: GZIP_LEVEL },
    requestEncodings: ['gzip', 'identity'],
    onUnsupportedRequestEncoding: (enc) => new OutpostError('UNSUPPORTED_MEDIA_TYPE', `content-encoding ${enc} is not supported (use gzip)`),
    onInvalidRequestPayload: (_enc, _req, err) => ({ statusCode: 400, code: 'OUTPOST_BAD_GZIP', message: `the gzip body cannot be inflated: ${err.message}` }) as unknown as Error,
  });


  const metrics = new HubMetrics();
  hub.onPurge((r) => {
    metrics.purged.inc({ what: 'log' }, r.log);
    metrics.purged.inc({ what: 'markers' }, r.markers);
    metrics.purged.inc({ what: 'staged' }, r.staged);
  });
  // Pull positions noted but not written yet go to the database before it is closed.
  app.addHook('onClose', async () => {
    await hub.flushPulled().catch(() => undefined);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url;
    if (!route?.startsWith('/v1/')) return;
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.duration.observe({ route }, reply.elapsedTime / 1000);
    const failed = reply.statusCode >= 500 ? 'failed' : reply.statusCode >= 400 ? 'refused' : null;
    if (failed && route === '/v1/push') metrics.pushes.inc({ outcome: failed });
    if (failed && route === '/v1/pull') metrics.pulls.inc({ outcome: failed });
  });

  app.setErrorHandler((err, req, reply) => {
    const e = asOutpostError(err);
    if (e.code === 'INTERNAL') req.log.error({ err }, 'request failed');
    const retry = e.details?.retryAfterSeconds;
    if (e.code === 'RATE_LIMITED' && typeof retry === 'number') void reply.header('retry-after', String(retry));
    return sendProblem(reply, e);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, new OutpostError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  // Query parameters are records from the request too: prototype keys are refused on every route.
  app.addHook('preHandler', async (req) => {
    const q = req.query;
    if (q && typeof q === 'object') {
      for (const k of Object.keys(q)) if (isReservedKey(k) || isReservedKey(k.replace(/\[.*$/, ''))) throw new OutpostError('BAD_REQUEST', `query parameter ${JSON.stringify(k.slice(0, 40))} is reserved`);
    }
  });

  const now = opts.now ?? Date.now;
  const admin = adminGuard({ token: opts.adminToken, db: hub.db, now });
  registerConflictRoutes(app, hub, admin);
  registerQuarantineRoutes(app, hub, admin);
  // POST /v1/join, /v1/rotate, /v1/admin/login, /v1/admin/logout (issue 7)
  registerCredentialRoutes(app, hub.db, { admin, now, limiter: new FailureLimiter(opts.failureLimit), sessionTtlMs: opts.sessionTtlMs });

  const auth = async (req: FastifyRequest): Promise<NodeRecord> => authenticate(hub.db, bearer(req));

  // GET /v1/live: nodes' WebSockets, poked after commits (issue 8).
  const log = opts.logger || undefined;
  const fanout = opts.fanout ?? (await openFanout(hub.config.fanout, log));
  const live = await registerLive(app, hub, { ...hub.config.live, ...opts.live, auth, fanout, metrics: { nodes: metrics.liveNodes, pokes: metrics.pokes, pages: metrics.pokePages, pagedChanges: metrics.pulledChanges }, log });
  app.decorate('live', live);
  registerNodeRoutes(app, hub, admin, live, now);

  app.get('/', async () => ({ name: 'outpost hub', protocol: PROTOCOL_VERSION, schemaVersion: hub.catalogue.version, tables: hub.catalogue.tables.map((t) => ({ name: t.name, direction: t.direction, policy: t.policy })) }));
  registerHealthRoutes(app, hub, opts.lifecycle ?? new HubLifecycle());
  app.get('/metrics', async (_req, reply) => {
    const s = await hub.report(); // read only: a scrape never writes
    metrics.logSeq.set(s.logSeq);
    metrics.conflictsOpen.set(s.conflictsOpen);
    metrics.quarantineOpen.set(s.quarantineOpen);
    metrics.nodeLag.reset();
    for (const n of s.nodes) if (!n.revokedAt) metrics.nodeLag.set({ node: n.name }, n.lag);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.post('/v1/handshake', async (req) => {
    const node = await auth(req);
    return hub.handshake(node, handshakeRequestSchema.parse(req.body));
  });

  app.post('/v1/push', async (req) => {
    const node = await auth(req);
    const body = parsePushRequest(req.body);
    const started = performance.now();
    const res = await hub.push(node, body);
    metrics.pushes.inc({ outcome: res.duplicate ? 'duplicate' : res.staged ? 'staged' : 'committed' });
    if (!res.staged && !res.duplicate) metrics.pushApplyDuration.observe((performance.now() - started) / 1000);
    if (!res.duplicate) metrics.pushedChanges.inc(body.changes.length);
    if (!res.staged && !res.duplicate) {
      metrics.appliedChanges.inc(res.applied);
      metrics.conflicts.inc(res.conflicts);
      metrics.quarantined.inc(res.quarantined?.length ?? 0);
    }
    return res;
  });

  app.get('/v1/pull', async (req) => {
    const node = await auth(req);
    const q = req.query as Record<string, string | undefined>;
    const after = intParam(q.after ?? '0', 'after');
    const limit = intParam(q.limit ?? String(hub.config.limits.pullPage), 'limit');
    if (limit < 1) throw new OutpostError('BAD_REQUEST', 'limit must be at least 1');
    const started = performance.now();
    const page = await hub.pull(node, after, limit);
    metrics.pullDuration.observe((performance.now() - started) / 1000);
    metrics.pulls.inc({ outcome: 'ok' });
    metrics.pulledChanges.inc(page.changes.length);
    return page;
  });

  app.get('/v1/snapshot', async (req, reply) => {
    const node = await auth(req);
    const out = new PassThrough();
    reply.type('application/x-ndjson');
    const done = hub
      .snapshot(node, async (lines) => {
        if (!out.write(lines.map((l) => JSON.stringify(l)).join('\n') + '\n')) await once(out, 'drain');
      })
      .then((rows) => {
        metrics.snapshotRows.inc(rows);
        out.end();
      }, (err: unknown) => {
        req.log.error({ err }, 'snapshot failed');
        out.destroy(err as Error);
      });
    void done;
    return reply.send(out);
  });

  app.get('/v1/status', async (req) => {
    const node = await auth(req);
    // This node's view only (not the whole hub's report): the log's end, what it has not pulled, what is open about it.
    await hub.flushPulled();
    return hub.db.read(async (tx) => {
      const logSeq = await tx.maxLogSeq();
      const me = await tx.nodeById(node.id);
      return { nodeId: node.id, logSeq, lag: Math.max(0, logSeq - (me?.pulledSeq ?? 0)), ...(await nodeOpenCounts(tx, node.id)) };
    });
  });

  // `outpost verify` (docs/protocol.md, "Verify"): read only, node credential.
  app.post('/v1/verify/sums', async (req) => {
    const node = await auth(req);
    return verifySums(hub, node, verifySumsRequestSchema.parse(req.body));
  });
  app.post('/v1/verify/rows', async (req) => {
    const node = await auth(req);
    return verifyRows(hub, node, verifyRowsRequestSchema.parse(req.body));
  });
  app.post('/v1/verify/fetch', async (req) => {
    const node = await auth(req);
    return verifyFetch(hub, node, verifyFetchRequestSchema.parse(req.body));
  });

  return app;
}

function intParam(v: string, name: string): number {
  if (!/^\d{1,15}$/.test(v)) throw new OutpostError('BAD_REQUEST', `${name} must be a non-negative integer`);
  return Number(v);
}
