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

export async function createServerDatabase(t: TestContext | null, dialect: ServerDialect, name = uniqueName()): Promise<ServerDatabase> {
  const db = dialect === 'mysql' ? await createMysql(name) : await createPostgres(name);
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

async function createPostgres(name: string): Promise<ServerDatabase> {
  const admin = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
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
      const a = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
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
