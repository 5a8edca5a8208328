import type { TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** The machine's servers, as CI provides them (README, "Tests"). */
export const MYSQL_ROOT = process.env.OUTPOST_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';
export const POSTGRES_ROOT = process.env.OUTPOST_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432';

export type ServerDialect = 'mysql' | 'postgres';

/** A uniquely named database on a server, dropped when the test ends. */
export interface ServerDatabase {
  url: string;
  name: string;
  /** run SQL as an application would, on a connection of its own, committed at once */
  exec(sql: string): Promise<void>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export function uniqueName(prefix = 'outpost_t'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * A fresh database for a test. `owner` (the test, by default `t`) matters
 * only for PostgreSQL databases without a given name: those come from this
 * process's pool (see `takePostgres`), never one its own owner released.
 */
export async function createServerDatabase(t: TestContext | null, dialect: ServerDialect, name?: string, opts: { owner?: object } = {}): Promise<ServerDatabase> {
  const db = dialect === 'mysql' ? await createMysql(name ?? uniqueName()) : await createPostgres(name, opts.owner ?? t ?? null);
  t?.after(() => db.close());
  return db;
}

async function createMysql(name: string): Promise<ServerDatabase> {
  const admin = await mysql.createConnection({ uri: MYSQL_ROOT, multipleStatements: true });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = `${MYSQL_ROOT}/${name}`;
  const app = await mysql.createConnection({ uri: url, multipleStatements: true, charset: 'utf8mb4', timezone: 'Z' });
  let closed = false;
  return {
    url,
    name,
    async exec(sql) {
      await app.query(sql);
    },
    async query<T>(sql: string, params: unknown[] = []) {
      const [rows] = await app.query(sql, params);
      return rows as T[];
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.end().catch(() => {});
      const a = await mysql.createConnection({ uri: MYSQL_ROOT });
      await a.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await a.end();
    },
  };
}

async function createPostgres(given: string | undefined, owner: object | null): Promise<ServerDatabase> {
  const pooled = given === undefined;
  const name = pooled ? await takePostgres(owner) : given;
  if (!pooled) await adminQuery(`CREATE DATABASE "${name}"`);
  const url = `${POSTGRES_ROOT}/${name}`;
  const app = new pg.Client({ connectionString: url });
  app.on('error', () => undefined);
  await app.connect();
  let closed = false;
  return {
    url,
    name,
    async exec(sql) {
      await app.query(sql);
    },
    async query<T>(sql: string, params: unknown[] = []) {
      return (await app.query(sql, params)).rows as T[];
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.end().catch(() => {});
      if (pooled) released.push({ name, owner });
      else await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

async function adminQuery(sql: string): Promise<string[]> {
  const a = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
  await a.connect();
  try {
    return (await a.query<{ datname: string }>(sql)).rows.map((r) => r.datname);
  } finally {
    await a.end();
  }
}

/*
 * PostgreSQL's CREATE DATABASE and DROP DATABASE cost about 0.6 s of server
 * time together (0.04 s for emptying one), and the suites create hundreds. So
 * a test process keeps the databases its tests released and empties one
 * (every other session ended, every schema dropped, `public` created as
 * PostgreSQL creates it) when the next test asks, instead of creating one.
 * Never one the asking test released itself: its hub may still be running.
 * They are dropped when the process ends; ones a killed process left behind
 * (named for its pid) are dropped by the next process that pools.
 */
const POOL_PREFIX = 'outpost_tp';
const released: { name: string; owner: object | null }[] = [];
const poolNames = new Set<string>();
let poolStarted = false;

async function takePostgres(owner: object | null): Promise<string> {
  if (!poolStarted) {
    poolStarted = true;
    await sweepOrphans();
    process.once('beforeExit', () => {
      const names = [...poolNames];
      poolNames.clear();
      if (names.length) void Promise.all(names.map((n) => adminQuery(`DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => undefined)));
    });
  }
  const i = released.findIndex((p) => p.owner !== owner || owner === null);
  if (i >= 0) {
    const { name } = released.splice(i, 1)[0]!;
    if (await emptyPostgres(name)) return name;
    poolNames.delete(name);
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
  }
  const name = `${POOL_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  poolNames.add(name);
  return name;
}

/** Empty a released database for its next test; false if it cannot be (a test dropped it, say). */
async function emptyPostgres(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: `${POSTGRES_ROOT}/${name}` });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    const schemas = (await c.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")).rows;
    for (const { nspname } of schemas) await c.query(`DROP SCHEMA "${nspname.replace(/"/g, '""')}" CASCADE`);
    await c.query('CREATE SCHEMA public AUTHORIZATION pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Drop pooled databases whose process is gone (killed before it could drop them). */
async function sweepOrphans(): Promise<void> {
  const names = await adminQuery(`SELECT datname FROM pg_database WHERE datname LIKE '${POOL_PREFIX}%'`);
  for (const n of names) {
    const pid = Number(/^outpost_tp(\d+)_/.exec(n)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    await adminQuery(`DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Drop a database a test let the product create (by URL), after the test. */
export async function dropServerDatabase(dialect: ServerDialect, name: string): Promise<void> {
  if (dialect === 'mysql') {
    const a = await mysql.createConnection({ uri: MYSQL_ROOT });
    await a.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await a.end();
    return;
  }
  const a = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await a.end();
}
