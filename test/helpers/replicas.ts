import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import type { Adapter } from '../../src/adapters/adapter.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import type { RowValues } from '../../src/engine/index.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { loadHubConfig, parseHubConfig, type HubConfig } from '../../src/hub/config.ts';
import { NodeAgent, type AgentOptions } from '../../src/node/agent.ts';
import { ROOT, OIMS_CONFIG } from './fixtures.ts';
import { createServerDatabase, type ServerDialect } from './server-db.ts';

/**
 * Replicas of any dialect for scenario tests: the same test body runs with a
 * hub and labs on SQLite, MariaDB or PostgreSQL.
 */
export type DialectName = 'sqlite' | ServerDialect;
type TestCtx = { after: (fn: () => unknown) => void };

/** A database as the application sees it: its own connection, SQL with `?` parameters, committed at once. */
export interface AppDb {
  dialect: DialectName;
  url: string;
  exec(sql: string): Promise<void>;
  run(sql: string, ...params: unknown[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export function oimsSchema(dialect: DialectName): string {
  return readFileSync(join(ROOT, `examples/oims/schema.${dialect}.sql`), 'utf8');
}

/** A fresh database of a dialect (a file in `dir`, or a uniquely named server database), dropped when the test ends. */
export async function newDatabase(t: TestCtx, dialect: DialectName, dir: string, name: string, opts: { oims?: boolean } = {}): Promise<AppDb> {
  let app: AppDb;
  if (dialect === 'sqlite') {
    const path = join(dir, `${name}.db`);
    app = sqliteApp(path);
    await app.exec('PRAGMA journal_mode = WAL');
  } else {
    const server = await createServerDatabase(null, dialect, undefined, { owner: t });
    const params = (sql: string): string => (dialect === 'postgres' ? dollarParams(sql) : sql);
    app = {
      dialect, url: server.url,
      exec: (sql) => server.exec(sql),
      async run(sql, ...args) { await server.query(params(sql), args); },
      query: <T,>(sql: string, ...args: unknown[]) => server.query<T>(params(sql), args),
      close: () => server.close(),
    };
  }
  t.after(() => app.close());
  if (opts.oims) await app.exec(oimsSchema(dialect));
  return app;
}

/** Another application connection to an existing database (a second website writer, say). */
export async function connectTo(t: TestCtx, dialect: DialectName, url: string): Promise<AppDb> {
  let app: AppDb;
  if (dialect === 'sqlite') {
    app = sqliteApp(url.replace(/^sqlite:/, ''));
  } else if (dialect === 'mysql') {
    const conn = await mysql.createConnection({ uri: url, multipleStatements: true, charset: 'utf8mb4', timezone: 'Z' });
    app = {
      dialect, url,
      async exec(sql) { await conn.query(sql); },
      async run(sql, ...params) { await conn.query(sql, params); },
      async query<T>(sql: string, ...params: unknown[]) { return (await conn.query(sql, params))[0] as T[]; },
      close: () => conn.end().catch(() => {}),
    };
  } else {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined); // the database may be dropped (FORCE) before this connection's after-hook runs
    await client.connect();
    app = {
      dialect, url,
      async exec(sql) { await client.query(sql); },
      async run(sql, ...params) { await client.query(dollarParams(sql), params); },
      async query<T>(sql: string, ...params: unknown[]) { return (await client.query(dollarParams(sql), params)).rows as T[]; },
      close: () => client.end().catch(() => {}),
    };
  }
  t.after(() => app.close());
  return app;
}

/** `?` parameters as PostgreSQL's `$1, $2…` (test SQL has no `?` in literals). */
function dollarParams(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** The app's own connection to a SQLite file, as a lab app would open it. */
function sqliteApp(path: string): AppDb {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  let open = true;
  return {
    dialect: 'sqlite', url: `sqlite:${path}`,
    async exec(sql) { db.exec(sql); },
    async run(sql, ...params) { db.prepare(sql).run(...params.map(sqliteBind)); },
    async query<T>(sql: string, ...params: unknown[]) { return db.prepare(sql).all(...params.map(sqliteBind)) as T[]; },
    async close() { if (open) (open = false, db.close()); },
  };
}

const sqliteBind = (v: unknown): unknown => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

export interface MatrixHub {
  hub: Hub;
  db: Adapter;
  app: FastifyInstance;
  url: string;
  /** the website's own connection to the hub database */
  web: AppDb;
  close(): Promise<void>;
}

export async function startMatrixHub(t: TestCtx, dialect: DialectName, dir: string, opts: { config?: Partial<HubConfig>; setup?: (app: FastifyInstance) => void; now?: () => number; schema?: string } = {}): Promise<MatrixHub> {
  const web = await newDatabase(t, dialect, dir, 'hub', { oims: opts.schema === undefined });
  if (opts.schema !== undefined) await web.exec(opts.schema);
  const base = loadHubConfig(OIMS_CONFIG);
  const config = opts.config ? parseHubConfig({ ...base, ...opts.config }) : base;
  return openMatrixHub(t, web, config, opts);
}

/** A hub process on a database the website already uses (a hub started again on it, say), closed when the test ends. */
export async function openMatrixHub(t: TestCtx, web: AppDb, config: HubConfig, opts: { setup?: (app: FastifyInstance) => void; now?: () => number } = {}): Promise<MatrixHub> {
  const db = await openAdapter(web.url);
  const hub = await Hub.open(db, config, { now: opts.now });
  const app = await buildServer(hub);
  opts.setup?.(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  let open = true;
  const h: MatrixHub = {
    hub, db, app, web, url: `http://127.0.0.1:${port}`,
    async close() {
      if (!open) return;
      open = false;
      await app.close();
      await db.close();
    },
  };
  t.after(() => h.close());
  return h;
}

export interface MatrixLab {
  name: string;
  agent: NodeAgent;
  db: Adapter;
  /** the lab app's own connection */
  app: AppDb;
  close(): Promise<void>;
}

/** Enroll a lab of a dialect: an empty database, or with `existing` one that already has the OIMS tables. */
export async function joinMatrixLab(t: TestCtx, hub: MatrixHub, dialect: DialectName, dir: string, name: string, opts: AgentOptions & { existing?: boolean; hubUrl?: string; before?: (app: AppDb) => Promise<void>; attrs?: Record<string, string> } = {}): Promise<MatrixLab> {
  const app = await newDatabase(t, dialect, dir, name, { oims: opts.existing });
  await opts.before?.(app);
  const { code } = await addNode(hub.db, name, Date.now(), opts.attrs ? { attrs: opts.attrs } : {});
  const db = await openAdapter(app.url);
  const { agent } = await NodeAgent.join(db, opts.hubUrl ?? hub.url, code, opts);
  let open = true;
  const lab: MatrixLab = {
    name, agent, db, app,
    async close() {
      if (!open) return;
      open = false;
      await db.close();
    },
  };
  t.after(() => lab.close());
  return lab;
}

/** A table's rows in canonical wire form, read through the replica's own adapter: equal across dialects when the values are. */
export async function canonicalRows(db: Adapter, table: string): Promise<RowValues[]> {
  const found = (await db.introspect()).find((x) => x.name === table);
  if (!found) throw new Error(`${db.description} has no table ${table}`);
  const schema = { ...found, direction: 'both' as const, policy: 'merge' as const };
  const out: RowValues[] = [];
  let after: unknown[] | null = null;
  for (;;) {
    const page: RowValues[] = await db.read((tx) => tx.scanRows(schema, after, 1000));
    out.push(...page);
    if (page.length < 1000) return out;
    after = schema.primaryKey.map((k) => page[page.length - 1]![k]);
  }
}
