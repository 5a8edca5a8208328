import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { hubLogger } from '../hub/logger.ts';
import { loadHubTls, openDb } from './secrets.ts';
import { OutpostError } from '../protocol/index.ts';
import { loadHubConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { buildServer } from '../hub/server.ts';

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
  const app = await buildServer(hub, { logger, adminToken: process.env.OUTPOST_ADMIN_TOKEN || undefined, tls });
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
  if (config.schemaRefreshSeconds > 0) {
    // Nullable columns added to synced tables are picked up while running.
    setInterval(() => {
      hub.refreshSchema().then(
        (r) => r.added.length && logger.info({ schemaVersion: r.version, added: r.added }, 'schema refreshed'),
        (e: Error) => logger.error({ err: e }, 'schema refresh refused'),
      );
    }, config.schemaRefreshSeconds * 1000).unref();
  }
  if (config.retention.purgeEverySeconds > 0) {
    // Log entries and delete markers every live node has pulled past.
    setInterval(() => {
      hub.purge().then(
        (r) => (r.log || r.markers || r.staged) && logger.info({ purge: r }, `purged ${r.log} log entries, ${r.markers} delete markers, ${r.staged} staged pages through seq ${r.purgedThrough}`),
        (e: Error) => logger.error({ err: e }, 'purge failed'),
      );
    }, config.retention.purgeEverySeconds * 1000).unref();
  }
  const stop = async (): Promise<void> => {
    await app.close();
    await db.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
