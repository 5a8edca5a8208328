import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { hubLogger } from '../hub/logger.ts';
import { loadHubTls, openDb } from './secrets.ts';
import { OutpostError } from '../protocol/index.ts';
import { loadHubConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { buildServer } from '../hub/server.ts';
import { HubLifecycle } from '../hub/health.ts';
import { shutdownHub } from '../hub/shutdown.ts';

export const PACKAGE_ROOT = new URL('../../', import.meta.url).pathname;
import { DEFAULT_HUB_DB } from './defaults.ts';

export { DEFAULT_HUB_DB };
export const DEFAULT_CONFIG = join(PACKAGE_ROOT, 'examples/oims/outpost.config.json');

export interface HubCommandOptions {
  db: string;
  port: string;
  host: string;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** seconds the requests under way may take to finish on SIGTERM/SIGINT (default 10) */
  shutdownGrace?: string;
}

/**
 * Start the hub. On the embedded default (a SQLite file under ./outpost-data)
 * an empty database gets the example inventory schema, so `npm start` works
 * with nothing else installed.
 */
export async function hubCommand(o: HubCommandOptions): Promise<void> {
  const configPath = o.config ?? DEFAULT_CONFIG;
  const config = loadHubConfig(configPath);
  const tls = loadHubTls(o);
  const db = await openDb(o.db);
  if (!o.config && (await db.introspect()).length === 0) {
    // An empty database with the example config starts with the example
    // inventory schema (so `npm start` works with nothing else installed).
    await db.execScript(readFileSync(join(PACKAGE_ROOT, `examples/oims/schema.${db.dialect}.sql`), 'utf8'));
  }
  // Credentials (tokens, enrollment codes) are redacted wherever a log line could carry them.
  const logger = hubLogger(pino.destination(2), process.env.OUTPOST_LOG_LEVEL ?? 'info');
  const hub = await Hub.open(db, config);
  const lifecycle = new HubLifecycle();
  const app = await buildServer(hub, { logger, adminToken: process.env.OUTPOST_ADMIN_TOKEN || undefined, tls, lifecycle });
  try {
    await app.listen({ host: o.host, port: Number(o.port) });
  } catch (e) {
    await db.close();
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new OutpostError('PORT_UNAVAILABLE', `cannot listen on ${o.host}:${o.port} (${code}${code === 'EADDRINUSE' ? ': another hub may be running there' : ''}); choose another with --port or --host`);
    }
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : Number(o.port);
  const shown = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const url = `${tls ? 'https' : 'http'}://${shown}:${port}`;
  const dbArg = o.db === DEFAULT_HUB_DB ? '' : ` --db ${o.db}`;
  process.stdout.write(
    [
      `Outpost hub listening on ${url}`,
      `  database: ${db.description}   config: ${existsSync(configPath) ? configPath : o.config}`,
      `  tables:   ${hub.catalogue.tables.map((t) => `${t.name} (${t.direction})`).join(', ')}`,
      '',
      'Add a lab:',
      `  CODE=$(npx outpost node add lab-a${dbArg})`,
      `  npx outpost join --hub ${url} --code "$CODE" --db sqlite:./lab-a.db${tls ? ' --ca CA.pem   # --ca: the CA that signed the certificate, if private' : ''}`,
      `  npx outpost sync --db sqlite:./lab-a.db`,
      '',
    ].join('\n'),
  );
  const timers: NodeJS.Timeout[] = [];
  if (config.schemaRefreshSeconds > 0) {
    // Nullable columns added to synced tables are picked up while running.
    timers[timers.length] = setInterval(() => {
      hub.refreshSchema().then(
        (r) => r.added.length && logger.info({ schemaVersion: r.version, added: r.added }, 'schema refreshed'),
        (e: Error) => logger.error({ err: e }, 'schema refresh refused'),
      );
    }, config.schemaRefreshSeconds * 1000).unref();
  }
  if (config.retention.purgeEverySeconds > 0) {
    // Log entries and delete markers every live node has pulled past.
    timers[timers.length] = setInterval(() => {
      hub.purge().then(
        (r) => (r.log || r.markers || r.staged) && logger.info({ purge: r }, `purged ${r.log} log entries, ${r.markers} delete markers, ${r.staged} staged pages through seq ${r.purgedThrough}`),
        (e: Error) => logger.error({ err: e }, 'purge failed'),
      );
    }, config.retention.purgeEverySeconds * 1000).unref();
  }
  // SIGTERM/SIGINT: stop taking requests, let those under way finish within
  // the grace period (a second signal: at once), close the database, exit 0.
  const graceMs = Math.round(Number(o.shutdownGrace ?? '10') * 1000);
  let abandon: () => void = () => undefined;
  const abandoned = new Promise<void>((resolve) => (abandon = resolve));
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return abandon();
    stopping = true;
    for (const t of timers) clearInterval(t);
    logger.info({ signal, graceMs }, 'shutting down: finishing the requests under way');
    const outcome = await shutdownHub(app, db, lifecycle, { graceMs, abandon: abandoned });
    if (outcome === 'abandoned') logger.warn('requests still running at the end of the grace period were abandoned (not committed; nodes send them again)');
    else logger.info('shut down');
    logger.flush?.();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}
