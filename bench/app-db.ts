/**
 * One database connection as an application (or a hand-written copy job)
 * holds it, the same for the three dialects: statements with `?`
 * placeholders, run one at a time, autocommitted unless inside
 * BEGIN … COMMIT. The harness writes the app's rows and runs its baselines
 * through it; Outpost itself is never called in-process.
 */
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type Dialect = 'sqlite' | 'mysql' | 'postgres';
export type ServerDialect = Exclude<Dialect, 'sqlite'>;

export interface AppDb {
  readonly dialect: Dialect;
  run(sql: string, params?: unknown[]): Promise<void>;
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A database URL as the CLI takes it: `sqlite:PATH`, `mysql://…` or `postgres://…`. */
export function dialectOf(url: string): Dialect {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (url.startsWith('mysql:') || url.startsWith('mariadb:')) return 'mysql';
  if (url.startsWith('postgres:') || url.startsWith('postgresql:')) return 'postgres';
  throw new Error(`bench: not a database URL: ${url}`);
}

export async function openAppDb(url: string): Promise<AppDb> {
  const dialect = dialectOf(url);
  if (dialect === 'sqlite') return openSqlite(url.slice('sqlite:'.length));
  if (dialect === 'mysql') return openMysql(url);
  return openPostgres(url);
}

/** The connection settings Outpost's SQLite adapter uses, so both sides pay for the same durability. */
export function sqliteConnection(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  return db;
}

function openSqlite(path: string): AppDb {
  const db = sqliteConnection(path);
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let st = statements.get(sql);
    if (!st) statements.set(sql, (st = db.prepare(sql)));
    return st;
  };
  return {
    dialect: 'sqlite',
    async run(sql, params = []) {
      if (params.length === 0 && !sql.includes('?')) db.exec(sql);
      else prepared(sql).run(...params);
    },
    async all<T>(sql: string, params: unknown[] = []) {
      return prepared(sql).all(...params) as T[];
    },
    async close() {
      db.close();
    },
  };
}

async function openMysql(url: string): Promise<AppDb> {
  const conn = await mysql.createConnection({ uri: url, charset: 'utf8mb4', timezone: 'Z', dateStrings: true, multipleStatements: true });
  await conn.query("SET time_zone = '+00:00'");
  return {
    dialect: 'mysql',
    async run(sql, params = []) {
      await conn.query(sql, params);
    },
    async all<T>(sql: string, params: unknown[] = []) {
      const [rows] = await conn.query(sql, params);
      return rows as T[];
    },
    async close() {
      await conn.end();
    },
  };
}

/** Dates and timestamps as PostgreSQL's text, not JS Dates: the harness copies them, it does not read them. */
const DATE_OIDS = new Set([1082, 1114, 1184]);
const PG_TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    DATE_OIDS.has(oid) ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

async function openPostgres(url: string): Promise<AppDb> {
  const client = new pg.Client({ connectionString: url, types: PG_TYPES });
  client.on('error', () => undefined);
  await client.connect();
  return {
    dialect: 'postgres',
    async run(sql, params = []) {
      await client.query(params.length ? numbered(sql) : sql, params);
    },
    async all<T>(sql: string, params: unknown[] = []) {
      return (await client.query(params.length ? numbered(sql) : sql, params)).rows as T[];
    },
    async close() {
      await client.end();
    },
  };
}

/** `?` placeholders as PostgreSQL's `$1, $2, …` (the harness's SQL has no `?` in literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
