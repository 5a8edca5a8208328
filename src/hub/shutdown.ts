import type { FastifyInstance } from 'fastify';
import type { Adapter } from '../adapters/adapter.ts';
import type { HubLifecycle } from './health.ts';

export type ShutdownOutcome = 'finished' | 'abandoned';

/**
 * Stop the hub gracefully: mark it shutting down (`/readyz` fails, new
 * requests get SHUTTING_DOWN), stop listening, let the requests under way
 * finish for at most `graceMs`, then close the database. Requests still
 * running after that are abandoned: their connections are cut and the
 * process is meant to exit without committing them (a transaction that did
 * not commit is rolled back by the database; the node sends it again).
 * `abandon` (a second signal) ends the wait at once.
 */
export async function shutdownHub(app: FastifyInstance, db: Adapter, lifecycle: HubLifecycle, o: { graceMs: number; abandon?: Promise<void> }): Promise<ShutdownOutcome> {
  lifecycle.beginShutdown();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race<ShutdownOutcome>([
    app.close().then(() => 'finished' as const),
    new Promise<ShutdownOutcome>((resolve) => {
      timer = setTimeout(() => resolve('abandoned'), o.graceMs);
    }),
    ...(o.abandon ? [o.abandon.then(() => 'abandoned' as const)] : []),
  ]);
  clearTimeout(timer);
  if (outcome === 'finished') {
    await db.close();
  } else {
    app.server.closeAllConnections();
  }
  return outcome;
}
