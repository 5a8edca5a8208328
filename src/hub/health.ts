import type { FastifyInstance } from 'fastify';
import { OutpostError } from '../protocol/index.ts';
import type { Hub } from './hub.ts';
import { sendProblem } from './problem.ts';

/** Whether the hub process is shutting down (SIGTERM/SIGINT): then it is not ready and takes no new requests. */
export class HubLifecycle {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  beginShutdown(): void {
    this.#draining = true;
  }
}

/** How long `GET /readyz` waits for its database query. */
const READY_TIMEOUT_MS = 2000;

/**
 * `GET /healthz`: the process is alive (no database access).
 * `GET /readyz`: ready for traffic: the database answers a cheap query within
 * 2 s, and the hub is not shutting down; else 503 problem+json
 * (`DB_UNREACHABLE` or `SHUTTING_DOWN`).
 * While shutting down, every other new request gets 503 `SHUTTING_DOWN`
 * (`/healthz` and `/metrics` still answer).
 */
export function registerHealthRoutes(app: FastifyInstance, hub: Hub, lifecycle: HubLifecycle): void {
  const shuttingDown = (): OutpostError => new OutpostError('SHUTTING_DOWN', 'the hub is shutting down; retry shortly');
  app.addHook('onRequest', async (req, reply) => {
    if (!lifecycle.draining) return;
    const path = req.url.split('?')[0];
    if (path === '/healthz' || path === '/metrics') return;
    void reply.header('connection', 'close');
    return sendProblem(reply, shuttingDown());
  });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        hub.db.read((tx) => tx.getState('role')),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      return sendProblem(reply, new OutpostError('DB_UNREACHABLE', `the hub database (${hub.db.description}) does not answer: ${(e as Error).message}`));
    } finally {
      clearTimeout(timer);
    }
    if (lifecycle.draining) return sendProblem(reply, shuttingDown());
    return { ok: true, db: hub.db.description, ms: Math.round((performance.now() - started) * 10) / 10 };
  });
}
