import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { Hub } from '../../src/hub/hub.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { buildServer } from '../../src/hub/server.ts';
import { loadHubConfig, parseHubConfig, type HubConfig } from '../../src/hub/config.ts';
import { NodeAgent, type AgentOptions } from '../../src/node/agent.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const OIMS_SCHEMA = join(ROOT, 'examples/oims/schema.sqlite.sql');
export const OIMS_CONFIG = join(ROOT, 'examples/oims/outpost.config.json');

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'outpost-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A SQLite file with the OIMS schema and seed rows, written as an app would (sqlite3 semantics). */
export function oimsDatabase(path: string): string {
  const db = new Database(path);
  db.exec(readFileSync(OIMS_SCHEMA, 'utf8'));
  db.close();
  return path;
}

export interface RunningHub {
  hub: Hub;
  app: FastifyInstance;
  url: string;
  dbPath: string;
  close(): Promise<void>;
}

export async function startHub(dir: string, opts: Parameters<typeof startHubOn>[1] = {}): Promise<RunningHub> {
  const dbPath = join(dir, 'hub.db');
  oimsDatabase(dbPath);
  return startHubOn(dbPath, opts);
}

export async function startHubOn(dbPath: string, opts: { config?: Partial<HubConfig> | HubConfig; now?: () => number; setup?: (app: FastifyInstance) => void; port?: number; tls?: { cert: string; key: string }; host?: string; adminToken?: string } = {}): Promise<RunningHub> {
  const base = loadHubConfig(OIMS_CONFIG);
  const config = opts.config ? parseHubConfig({ ...base, ...opts.config }) : base;
  const db = new SqliteAdapter(dbPath);
  const hub = await Hub.open(db, config, { now: opts.now });
  const app = await buildServer(hub, { tls: opts.tls, adminToken: opts.adminToken });
  opts.setup?.(app);
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    hub, app, dbPath, url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await db.close();
    },
  };
}

export interface TestNode {
  agent: NodeAgent;
  db: SqliteAdapter;
  path: string;
  /** the lab app's own connection, as a separate writer would have */
  app: Database.Database;
  close(): Promise<void>;
}

export async function joinNode(hub: RunningHub, dir: string, name: string, opts: AgentOptions & { existing?: boolean } = {}): Promise<TestNode> {
  const { code } = await addNode(hub.hub.db, name);
  const path = join(dir, `${name}.db`);
  if (opts.existing) oimsDatabase(path);
  const db = new SqliteAdapter(path);
  const { agent } = await NodeAgent.join(db, hub.url, code, opts);
  const app = new Database(path);
  app.pragma('busy_timeout = 5000');
  return {
    agent, db, path, app,
    async close() {
      app.close();
      await db.close();
    },
  };
}

/** A lab enrolled with attributes (scopes name them as `$node.NAME`), joined, with its app's own connection. */
export async function joinLabWithAttrs(hub: RunningHub, dir: string, name: string, attrs: Record<string, string>): Promise<TestNode> {
  const { code } = await addNode(hub.hub.db, name, Date.now(), { attrs });
  const path = join(dir, `${name}.db`);
  const db = new SqliteAdapter(path);
  const { agent } = await NodeAgent.join(db, hub.url, code);
  const app = new Database(path);
  app.pragma('busy_timeout = 5000');
  return { agent, db, path, app, async close() { app.close(); await db.close(); } };
}

/** Rows of a table as plain objects ordered by key, for comparing replicas. */
export function rowsOf(path: string, table: string): Record<string, unknown>[] {
  return queryAll(path, `SELECT * FROM "${table}" ORDER BY 1`);
}

export function hubApp(hub: RunningHub): Database.Database {
  const db = new Database(hub.dbPath);
  db.pragma('busy_timeout = 5000');
  return db;
}

type TestCtx = { after: (fn: () => unknown) => void };

/** A running hub on the OIMS schema and labs joined to it, all closed when the test ends. */
export async function hubWithLabs(t: TestCtx, names: string[], opts: { hub?: Parameters<typeof startHub>[1]; lab?: (name: string) => AgentOptions } = {}): Promise<{ dir: string; hub: RunningHub; labs: TestNode[] }> {
  const dir = tempDir(t);
  const hub = await startHub(dir, opts.hub);
  t.after(() => hub.close());
  const labs: TestNode[] = [];
  for (const name of names) {
    const lab = await joinNode(hub, dir, name, opts.lab?.(name) ?? {});
    t.after(() => lab.close());
    labs.push(lab);
  }
  return { dir, hub, labs };
}

/** Run one read-only query on a database file and close it again. */
export function queryAll<T = Record<string, unknown>>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
