import mysql from 'mysql2/promise';
import type { ColumnSchema, TableSchema } from '../../protocol/index.ts';
import type { Adapter, AdapterCapabilities, IntrospectedTable, Role, Tx, WriteOptions } from '../adapter.ts';
import { OutpostError } from '../../protocol/index.ts';
import { RowStoreTx } from '../row-store-tx.ts';
import { PLAIN_SAVEPOINTS } from '../savepoint.ts';
import type { SqlRunner } from '../sql-runner.ts';
import { Mutex } from '../mutex.ts';
import { addColumnSql, bookkeepingDdl, createTableSql } from './mysql-ddl.ts';
import { introspectMysql } from './mysql-introspect.ts';
import { captureTriggersSql, initialCaptureSql, readonlyTriggersSql, triggerNames } from './mysql-capture.ts';
import { MysqlRows } from './mysql-apply.ts';
import { quoteMysql as q } from './mysql-quote.ts';

/**
 * commitOrderedIds: every write transaction of every process first locks the
 * one row of `_outpost_lock` (FOR UPDATE) and holds it to commit, so write
 * transactions commit one at a time and the hub's `_outpost_log`
 * AUTO_INCREMENT ids become visible in commit order (HARD-PARTS §3). Only
 * Outpost writes `_outpost_log`, always through write().
 */
const CAPS: AdapterCapabilities = Object.freeze({
  commitOrderedIds: true,
  deferrableForeignKeys: false,
  foreignKeyChecksOff: true,
  transactionalDdl: false,
});

/** Constraint and data errors: the change does not fit the receiving database. */
const APPLY_ERRNOS = new Set([1062, 1451, 1452, 1048, 1364, 1406, 1264, 1265, 1366, 1292, 4025, 3819, 1644]);
/** Deadlock, lock wait timeout. */
const BUSY_ERRNOS = new Set([1213, 1205]);
/** Connection-level failures: the connection cannot be trusted any more. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST', 'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR']);

type Conn = mysql.Connection | mysql.PoolConnection;

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** the URL without credentials, for messages */
  description: string;
}

/** mysql://user:pass@host:port/db (or mariadb://) */
export function parseMysqlUrl(url: string): MysqlTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutpostError('DB_URL_INVALID', `not a MySQL/MariaDB URL: ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//…@'))} (expected mysql://user:password@host:port/database)`);
  }
  if (!['mysql:', 'mariadb:'].includes(u.protocol)) throw new OutpostError('DB_URL_INVALID', `not a mysql:// or mariadb:// URL: ${u.protocol}`);
  if (!u.hostname) throw new OutpostError('DB_URL_INVALID', `${u.protocol}// URL has no host (expected mysql://user:password@host:port/database)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '').replace(/\/$/, ''));
  if (!database) throw new OutpostError('DB_URL_INVALID', `${u.protocol}// URL names no database (expected mysql://user:password@host:port/database)`);
  if (database.length > 64 || /[/\\.\0]/.test(database) || database.endsWith(' ')) {
    throw new OutpostError('DB_URL_INVALID', `not a valid MySQL/MariaDB database name: ${JSON.stringify(database)}`);
  }
  const port = u.port ? Number(u.port) : 3306;
  const user = decodeURIComponent(u.username) || 'root';
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, user, password, database, description: `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}/${database}` };
}

function unreachable(e: unknown, t: MysqlTarget): unknown {
  const code = (e as { code?: unknown }).code;
  const errno = (e as { errno?: unknown }).errno;
  // 1044/1045/1698: access denied (SQLSTATE 28000 and 42000)
  if ((typeof code === 'string' && UNREACHABLE_CODES.has(code)) || errno === 1044 || errno === 1045 || errno === 1698) {
    const why = typeof code === 'string' && code.startsWith('ER_') ? `access refused: ${(e as Error).message}` : `cannot connect (${code}): ${(e as Error).message}`;
    return new OutpostError('DB_UNREACHABLE', `database server ${t.description}: ${why}`, { cause: code });
  }
  return e;
}

/** Constraint failures become APPLY_FAILED, deadlocks and lock timeouts DB_BUSY; anything else is passed on. */
function translateError(e: unknown): unknown {
  if (e instanceof OutpostError) return e;
  const errno = (e as { errno?: unknown }).errno;
  const code = (e as { code?: unknown }).code;
  if (typeof errno === 'number' && APPLY_ERRNOS.has(errno)) {
    return new OutpostError('APPLY_FAILED', `the database refused a change: ${(e as Error).message}`, { constraint: code ?? errno });
  }
  if (typeof errno === 'number' && BUSY_ERRNOS.has(errno)) {
    return new OutpostError('DB_BUSY', `the database could not finish the transaction (${code}: ${(e as Error).message}); it was rolled back, try again`, { cause: code ?? errno });
  }
  return e;
}

function runner(conn: () => Conn): SqlRunner {
  return {
    async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const [rows] = await conn().query(sql, params as unknown[]);
      return rows as T[];
    },
    async run(sql: string, params: readonly unknown[] = []): Promise<number> {
      const [res] = await conn().query(sql, params as unknown[]);
      return Number((res as mysql.ResultSetHeader).affectedRows ?? 0);
    },
    async insertReturningId(sql: string, params: readonly unknown[]): Promise<number> {
      const [res] = await conn().query(sql, params as unknown[]);
      return Number((res as mysql.ResultSetHeader).insertId);
    },
  };
}

/** A transaction on one MariaDB connection. */
function mysqlTx(run: SqlRunner, write = false): Tx {
  // InnoDB checks constraints per statement (per row): a savepoint needs nothing more.
  return new RowStoreTx(run, new MysqlRows(run), { intParam: 'CAST(? AS SIGNED)' }, write ? PLAIN_SAVEPOINTS(translateError) : undefined);
}

export class MysqlAdapter implements Adapter {
  readonly dialect = 'mysql' as const;
  readonly caps = CAPS;
  readonly description: string;
  readonly #target: MysqlTarget;
  readonly #pool: mysql.Pool;
  readonly #isMariaDb: boolean;
  readonly #version: string;
  readonly #lock = new Mutex();
  #writer: mysql.Connection | null;
  #hasLockTable = false;
  #closed = false;

  private constructor(target: MysqlTarget, pool: mysql.Pool, writer: mysql.Connection, version: string) {
    this.#target = target;
    this.description = target.description;
    this.#pool = pool;
    this.#writer = writer;
    this.#version = version;
    this.#isMariaDb = /mariadb/i.test(version);
  }

  /** Connect, creating the database first unless `mustExist`. */
  static async open(url: string, opts: { mustExist?: boolean } = {}): Promise<MysqlAdapter> {
    const target = parseMysqlUrl(url);
    if (!opts.mustExist) {
      let admin: mysql.Connection | undefined;
      try {
        admin = await mysql.createConnection({ ...baseOptions(target), database: undefined });
        await admin.query(`CREATE DATABASE IF NOT EXISTS ${q(target.database)} CHARACTER SET utf8mb4`);
      } catch (e) {
        throw unreachable(e, target);
      } finally {
        await admin?.end().catch(() => {});
      }
    }
    let writer: mysql.Connection;
    try {
      writer = await connect(target);
    } catch (e) {
      if ((e as { errno?: unknown }).errno === 1049) throw new OutpostError('DB_URL_INVALID', `no database ${JSON.stringify(target.database)} at ${target.description}`);
      throw unreachable(e, target);
    }
    const [rows] = await writer.query('SELECT VERSION() AS v');
    const version = String((rows as { v: string }[])[0]?.v ?? '');
    const pool = mysql.createPool({ ...baseOptions(target), connectionLimit: 5, maxIdle: 5, idleTimeout: 60_000 });
    pool.on('connection', (c) => {
      // The event hands over the callback-style connection; queued ahead of anything it is asked to do.
      const raw = c as unknown as { query(sql: string, cb: (err: unknown) => void): unknown };
      for (const sql of ["SET time_zone = '+00:00'", 'SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ']) {
        const r = raw.query(sql, () => {});
        if (r instanceof Promise) r.catch(() => {});
      }
    });
    return new MysqlAdapter(target, pool, writer, version);
  }

  get #uuidType(): boolean {
    const m = /^(\d+)\.(\d+)/.exec(this.#version);
    return this.#isMariaDb && !!m && (Number(m[1]) > 10 || (Number(m[1]) === 10 && Number(m[2]) >= 7));
  }

  async introspect(): Promise<IntrospectedTable[]> {
    const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => (await this.#pool.query(sql, params))[0] as T[];
    return introspectMysql(query, this.#isMariaDb);
  }

  async installBookkeeping(role: Role): Promise<void> {
    await this.#onWriter(async (conn) => {
      for (const sql of bookkeepingDdl(role)) await conn.query(sql);
    });
    this.#hasLockTable = true;
  }

  async installTriggers(table: TableSchema, mode: 'capture' | 'readonly' | 'none', opts: { initialAtEpoch?: boolean } = {}): Promise<{ initialRows: number }> {
    const names = triggerNames(table.name);
    const orReplace = this.#isMariaDb;
    // MariaDB replaces a trigger in place, so no app write slips between drop and create.
    const keep = mode === 'capture' && orReplace ? names.capture : mode === 'readonly' && orReplace ? names.readonly : [];
    await this.#onWriter(async (conn) => {
      for (const name of [...names.capture, ...names.readonly]) if (!keep.includes(name)) await conn.query(`DROP TRIGGER IF EXISTS ${q(name)}`);
      const sql = mode === 'capture' ? captureTriggersSql(table, orReplace) : mode === 'readonly' ? readonlyTriggersSql(table, orReplace) : [];
      for (const s of sql) await conn.query(s);
    });
    if (mode !== 'capture') return { initialRows: 0 };
    // Triggers first, then the rows already there: a row captured twice is harmless, a missed one is not.
    // The marker commits with the rows, so this happens once.
    return this.write(async (tx) => {
      const marker = `captured:${table.name}`;
      if ((await tx.getState(marker)) !== null) return { initialRows: 0 };
      const n = await this.#writerRun(initialCaptureSql(table, opts.initialAtEpoch ?? false));
      await tx.setState(marker, String(Date.now()));
      return { initialRows: n };
    });
  }

  async createTable(table: TableSchema): Promise<void> {
    await this.#onWriter(async (conn) => {
      await conn.query(createTableSql(table, { uuidType: this.#uuidType }));
    });
  }

  async addColumn(table: TableSchema, column: ColumnSchema): Promise<void> {
    await this.#onWriter(async (conn) => {
      await conn.query(addColumnSql(table, column, { uuidType: this.#uuidType }));
    });
  }

  async setKeyStart(table: TableSchema, next: number): Promise<boolean> {
    return this.#onWriter(async (conn) => {
      const [rows] = await conn.query('SELECT AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table.name]);
      const n = (rows as { n: string | number | null }[])[0]?.n;
      if (n === null || n === undefined) return false;
      // InnoDB never moves the counter below the highest key in the table.
      if (Number(n) < next) await conn.query(`ALTER TABLE ${q(table.name)} AUTO_INCREMENT = ${Math.trunc(next)}`);
      return true;
    });
  }

  async execScript(sql: string): Promise<void> {
    const conn = await connect(this.#target, true);
    try {
      await conn.query(sql);
    } finally {
      await conn.end().catch(() => {});
    }
  }

  write<T>(fn: (tx: Tx) => Promise<T>, opts: WriteOptions = {}): Promise<T> {
    return this.#lock.run(async () => {
      const conn = await this.#writerConn();
      const tx = mysqlTx(runner(() => conn), true);
      const fkOff = opts.checkForeignKeys === false;
      let failed = false;
      try {
        if (fkOff) await conn.query('SET foreign_key_checks = 0');
        // Echo suppression: the capture triggers skip this session while it is set.
        await conn.query('SET @outpost_applying = 1');
        await conn.query('START TRANSACTION');
        await this.#takeCommitLock(conn);
        const result = await fn(tx);
        await conn.query('COMMIT');
        return result;
      } catch (e) {
        failed = true;
        await conn.query('ROLLBACK').catch(() => {});
        throw translateError(e);
      } finally {
        // The variable survives ROLLBACK; after a failure the connection is
        // dropped as well, so nothing left over can suppress later captures.
        await conn.query('SET @outpost_applying = NULL').catch(() => (failed = true));
        if (fkOff) await conn.query('SET foreign_key_checks = 1').catch(() => (failed = true));
        if (failed) this.#dropWriter(conn);
      }
    });
  }

  async read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the database is closed');
    const conn = await this.#pool.getConnection();
    let ok = false;
    try {
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
      const result = await fn(mysqlTx(runner(() => conn)));
      await conn.query('COMMIT');
      ok = true;
      return result;
    } finally {
      if (ok) conn.release();
      else {
        await conn.query('ROLLBACK').catch(() => {});
        conn.destroy();
      }
    }
  }

  async close(): Promise<void> {
    await this.#lock.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#writer?.end().catch(() => {});
      this.#writer = null;
      await this.#pool.end().catch(() => {});
    });
  }

  /** Lock the one `_outpost_lock` row until commit (absent before installBookkeeping). */
  async #takeCommitLock(conn: mysql.Connection): Promise<void> {
    if (!this.#hasLockTable) {
      const [rows] = await conn.query(`SELECT 1 AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_outpost_lock'`);
      if ((rows as unknown[]).length === 0) return;
      this.#hasLockTable = true;
    }
    await conn.query('SELECT id FROM _outpost_lock WHERE id = 1 FOR UPDATE');
  }

  async #writerRun(sql: string): Promise<number> {
    const conn = await this.#writerConn();
    const [res] = await conn.query(sql);
    return Number((res as mysql.ResultSetHeader).affectedRows ?? 0);
  }

  async #writerConn(): Promise<mysql.Connection> {
    if (this.#closed) throw new Error('the database is closed');
    if (!this.#writer) {
      try {
        this.#writer = await connect(this.#target);
      } catch (e) {
        throw unreachable(e, this.#target);
      }
    }
    return this.#writer;
  }

  #dropWriter(conn: mysql.Connection): void {
    if (this.#writer === conn) this.#writer = null;
    conn.destroy();
  }

  /** DDL on the writer connection, one at a time with write transactions. */
  #onWriter<T>(fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      const conn = await this.#writerConn();
      try {
        return await fn(conn);
      } catch (e) {
        this.#dropWriter(conn);
        throw translateError(e);
      }
    });
  }
}

function baseOptions(t: MysqlTarget): mysql.ConnectionOptions {
  return {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    charset: 'utf8mb4',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    connectTimeout: 10_000,
  };
}

/** A connection of our own: UTC, and READ COMMITTED for write transactions (the lock row orders them). */
async function connect(t: MysqlTarget, multipleStatements = false): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({ ...baseOptions(t), multipleStatements });
  await conn.query("SET time_zone = '+00:00'");
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  // Strict: a value that does not fit fails (APPLY_FAILED, quarantined) rather than being cut or replaced by a default.
  await conn.query("SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES')");
  return conn;
}
