import pg from 'pg';
import type { ColumnSchema, TableSchema } from '../../protocol/index.ts';
import type { Adapter, AdapterCapabilities, IntrospectedTable, Role, Tx, WriteOptions } from '../adapter.ts';
import { OutpostError } from '../../protocol/index.ts';
import { RowStoreTx } from '../row-store-tx.ts';
import { PLAIN_SAVEPOINTS, type SavepointDialect } from '../savepoint.ts';
import type { SqlRunner } from '../sql-runner.ts';
import { Mutex } from '../mutex.ts';
import { addColumnSql, bookkeepingDdl, createTableSql } from './postgres-ddl.ts';
import { introspectPostgres, liveTypes } from './postgres-introspect.ts';
import { captureTriggersSql, dropTriggersSql, initialCaptureSql, readonlyTriggersSql } from './postgres-capture.ts';
import { PgRows } from './postgres-apply.ts';
import { quotePg } from './postgres-quote.ts';

const CAPS: AdapterCapabilities = Object.freeze({
  // Every write transaction of every Outpost process takes OUTPOST_LOCK (a
  // transaction-level advisory lock) first, so they commit one at a time and
  // the ids they draw (the hub's _outpost_log.seq) become visible in commit
  // order. App transactions don't take it, but they never write the log.
  commitOrderedIds: true,
  deferrableForeignKeys: true,
  foreignKeyChecksOff: false,
  transactionalDdl: true,
});

/** pg_advisory_xact_lock key of Outpost's write transactions: "outpost" in ASCII. */
const OUTPOST_LOCK = '31372865377891188';
const LOCK_SQL = `SELECT pg_advisory_xact_lock(${OUTPOST_LOCK})`;

/**
 * Types that pg would turn into JS numbers, Dates or objects are kept as the
 * server's text (int8 and numeric lose digits as numbers; Dates lose
 * microseconds and depend on the local time zone; json is compacted later).
 * Per pool, never the global pg.types. Only booleans, small integers,
 * floats and bytea are parsed; everything else (arrays included) stays text.
 */
const PARSED = new Set([16, 17, 21, 23, 26, 700, 701]);
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    PARSED.has(oid) ? pg.types.getTypeParser(oid, format as 'text') : (v: string) => v) as pg.CustomTypesConfig['getTypeParser'],
};

/** The statements every write transaction starts with, in one round trip. */
const BEGIN_WRITE = [
  'BEGIN ISOLATION LEVEL READ COMMITTED',
  LOCK_SQL,
  // Echo suppression (HARD-PARTS §1): ends with the transaction, whatever happens.
  "SET LOCAL outpost.applying = 'on'",
  // DEFERRABLE foreign keys (those of tables Outpost creates) are checked at commit.
  'SET CONSTRAINTS ALL DEFERRED',
].join('; ');

/** One snapshot for the whole transaction, taken at its first statement. */
const BEGIN_READ = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

/** Translate `?` parameters to `$1, $2…` (the bookkeeping SQL has no `?` in literals). */
const translated = new Map<string, string>();
function dollars(sql: string): string {
  let out = translated.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    translated.set(sql, out);
  }
  return out;
}

function runner(db: pg.ClientBase): SqlRunner {
  return {
    async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return (await db.query(dollars(sql), params as unknown[])).rows as T[];
    },
    async run(sql: string, params: readonly unknown[] = []): Promise<number> {
      return (await db.query(dollars(sql), params as unknown[])).rowCount ?? 0;
    },
    async insertReturningId(sql: string, params: readonly unknown[], idColumn: string): Promise<number> {
      const { rows } = await db.query<Record<string, string>>(`${dollars(sql)} RETURNING ${quotePg(idColumn)}`, params as unknown[]);
      return Number(rows[0]![idColumn]);
    },
  };
}

/** A transaction on one PostgreSQL client. */
function pgTx(db: pg.ClientBase, savepoints?: SavepointDialect): Tx {
  return new RowStoreTx(runner(db), new PgRows(db), { intParam: 'CAST(? AS BIGINT)', logArrays: true }, savepoints);
}

/**
 * Write transactions defer DEFERRABLE foreign keys to commit; a savepoint
 * makes them immediate (checking what is pending from before, outside the
 * savepoint), so a change that breaks one fails inside it, then defers them again.
 */
const savepointsOf = (description: string): SavepointDialect => ({
  enter: ['SET CONSTRAINTS ALL IMMEDIATE'],
  leave: ['SET CONSTRAINTS ALL DEFERRED'],
  translate: (e) => translateError(e, description),
});

/** What a postgres:// URL names: the database, and the URL without credentials for messages. */
export function parsePostgresUrl(url: string): { database: string; description: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutpostError('DB_URL_INVALID', `not a PostgreSQL URL: ${JSON.stringify(redact(url))} (expected postgres://user:password@host:port/database)`);
  }
  if (!/^postgres(ql)?:$/i.test(u.protocol)) throw new OutpostError('DB_URL_INVALID', `not a PostgreSQL URL: ${JSON.stringify(redact(url))}`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database || database.includes('/')) {
    throw new OutpostError('DB_URL_INVALID', `the PostgreSQL URL ${JSON.stringify(redact(url))} names no database; add it as the path: postgres://user@host:5432/DATABASE`);
  }
  if (!u.hostname) throw new OutpostError('DB_URL_INVALID', `the PostgreSQL URL ${JSON.stringify(redact(url))} names no host: postgres://user@HOST:5432/${database}`);
  return { database, description: `postgres://${u.host}/${database}` };
}

function redact(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

function poolConfig(url: string, max: number): pg.PoolConfig {
  return {
    connectionString: url,
    max,
    types: TYPES,
    // Session settings at connection start: timestamps as UTC ISO text.
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601',
    application_name: 'outpost',
    connectionTimeoutMillis: 15_000,
  };
}

/** Connection failures that mean the server (or this database on it) cannot be used. */
function unreachable(e: unknown, description: string): OutpostError | null {
  const code = (e as { code?: unknown }).code;
  const msg = (e as Error).message ?? String(e);
  const network = typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(code);
  const server = typeof code === 'string' && /^(08|28|57P0[1-3]|53300)/.test(code);
  const broken = /Connection terminated|timeout expired|Client has encountered a connection error/i.test(msg);
  if (!network && !server && !broken) return null;
  return new OutpostError('DB_UNREACHABLE', `cannot use the PostgreSQL database ${description}: ${msg || code}`, typeof code === 'string' ? { dbCode: code } : undefined);
}

/** Constraint and data errors become APPLY_FAILED, conflicts DB_BUSY, connection failures DB_UNREACHABLE. */
function translateError(e: unknown, description: string): unknown {
  if (e instanceof OutpostError) return e;
  if (e instanceof pg.DatabaseError && typeof e.code === 'string') {
    if (e.code.startsWith('23') || e.code.startsWith('22')) {
      return new OutpostError('APPLY_FAILED', `the database refused a change: ${e.message}${e.detail ? ` (${e.detail})` : ''}`, { constraint: e.code });
    }
    if (e.code === '40P01' || e.code === '40001' || e.code === '55P03') {
      return new OutpostError('DB_BUSY', `the database aborted the transaction: ${e.message}; it was rolled back, retry`, { dbCode: e.code });
    }
  }
  return unreachable(e, description) ?? e;
}

export class PostgresAdapter implements Adapter {
  readonly dialect = 'postgres' as const;
  readonly caps = CAPS;
  readonly description: string;
  readonly #readers: pg.Pool;
  /** one connection for this process's write transactions, taken under #lock (a pool of one reconnects after a failure) */
  readonly #writer: pg.Pool;
  readonly #lock = new Mutex();
  #schema = 'public';
  readonly #savepoints: SavepointDialect;

  private constructor(url: string, description: string) {
    this.description = description;
    this.#savepoints = savepointsOf(description);
    this.#readers = new pg.Pool(poolConfig(url, 4));
    this.#writer = new pg.Pool(poolConfig(url, 1));
    // An idle connection the server drops must not crash the process; the next use reconnects.
    this.#readers.on('error', () => undefined);
    this.#writer.on('error', () => undefined);
  }

  /**
   * Connect to the database the URL names, creating it first (over the
   * `postgres` maintenance database) unless `mustExist`.
   */
  static async open(url: string, opts: { mustExist?: boolean } = {}): Promise<PostgresAdapter> {
    const { database, description } = parsePostgresUrl(url);
    const adapter = new PostgresAdapter(url, description);
    try {
      try {
        await adapter.#connect();
      } catch (e) {
        if ((e as { code?: unknown }).code !== '3D000') throw e;
        if (opts.mustExist) throw new OutpostError('DB_URL_INVALID', `no database ${JSON.stringify(database)} on ${description.replace(/\/[^/]*$/, '')}`);
        await createDatabase(url, database);
        await adapter.#connect();
      }
      return adapter;
    } catch (e) {
      await adapter.close().catch(() => undefined);
      throw translateError(e, description);
    }
  }

  async #connect(): Promise<void> {
    const { rows } = await this.#writer.query<{ s: string | null }>('SELECT current_schema() AS s');
    if (!rows[0]?.s) throw new OutpostError('DB_URL_INVALID', `${this.description}: the connection has no current schema (check search_path)`);
    this.#schema = rows[0].s;
  }

  async introspect(): Promise<IntrospectedTable[]> {
    return this.#inTransaction(this.#readers, BEGIN_READ, (c) => introspectPostgres(c));
  }

  async installBookkeeping(role: Role): Promise<void> {
    await this.#ddl(async (c) => {
      for (const sql of bookkeepingDdl(role)) await c.query(sql);
    });
  }

  async installTriggers(table: TableSchema, mode: 'capture' | 'readonly' | 'none', opts: { initialAtEpoch?: boolean } = {}): Promise<{ initialRows: number }> {
    return this.#ddl(async (c) => {
      const schema = this.#schema;
      for (const sql of dropTriggersSql(table.name, schema)) await c.query(sql);
      if (mode === 'none') return { initialRows: 0 };
      if (mode === 'readonly') {
        for (const sql of readonlyTriggersSql(table, schema)) await c.query(sql);
        return { initialRows: 0 };
      }
      const live = await liveTypes(c, table.name);
      if (live.size === 0) throw new OutpostError('SCHEMA_INVALID', `table ${table.name} does not exist in schema ${schema} of ${this.description}`);
      for (const sql of captureTriggersSql(table, live, schema)) await c.query(sql);
      // The first capture install records the rows already there; the marker
      // is written in the same transaction (DDL is transactional), so exactly once.
      const marker = `captured:${table.name}`;
      const seen = await c.query('SELECT 1 FROM _outpost_state WHERE k = $1', [marker]);
      if (seen.rowCount) return { initialRows: 0 };
      const n = (await c.query(initialCaptureSql(table, live, schema, opts.initialAtEpoch ?? false))).rowCount ?? 0;
      await c.query('INSERT INTO _outpost_state (k, v) VALUES ($1, $2)', [marker, String(Date.now())]);
      return { initialRows: n };
    });
  }

  async createTable(table: TableSchema): Promise<void> {
    await this.#ddl(async (c) => {
      await c.query(createTableSql(table));
    });
  }

  async addColumn(table: TableSchema, column: ColumnSchema): Promise<void> {
    await this.#ddl(async (c) => {
      await c.query(addColumnSql(table, column));
    });
  }

  async setKeyStart(table: TableSchema, next: number): Promise<boolean> {
    const key = table.primaryKey.length === 1 ? table.primaryKey[0]! : null;
    if (!key) return false;
    return this.#ddl(async (c) => {
      const r = await c.query<{ s: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS s', [quotePg(table.name), key]);
      const seq = r.rows[0]?.s;
      if (!seq) return false;
      // A sequence is never moved by rows inserted with explicit keys, so it stays in the range.
      await c.query('SELECT setval($1::regclass, $2, false) WHERE COALESCE(pg_sequence_last_value($1::regclass), 0) < $2', [seq, next]);
      return true;
    });
  }

  async execScript(sql: string): Promise<void> {
    await this.#lock.run(async () => {
      // No parameters: the simple query protocol, which runs several statements.
      await this.#writer.query(sql).catch((e: unknown) => Promise.reject(translateError(e, this.description)));
    });
  }

  /** A transaction of schema changes, under the Outpost lock so that two processes never race on them. */
  #ddl<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#transaction(`BEGIN; ${LOCK_SQL}`, fn);
  }

  write<T>(fn: (tx: Tx) => Promise<T>, opts: WriteOptions = {}): Promise<T> {
    // checkForeignKeys: false has nothing more to do: every write transaction
    // defers DEFERRABLE foreign keys to commit (those Outpost creates are);
    // NOT DEFERRABLE ones cannot be turned off without superuser rights.
    // Without foreign-key checks (a snapshot page) a savepoint leaves the deferral alone.
    const savepoints = opts.checkForeignKeys === false ? PLAIN_SAVEPOINTS(this.#savepoints.translate) : this.#savepoints;
    return this.#transaction(BEGIN_WRITE, (c) => fn(pgTx(c, savepoints)));
  }

  #transaction<T>(begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#lock.run(() => this.#inTransaction(this.#writer, begin, fn));
  }

  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#inTransaction(this.#readers, BEGIN_READ, (c) => fn(pgTx(c)));
  }

  /** A transaction on a client of `pool`; a client whose ROLLBACK failed is discarded. */
  async #inTransaction<T>(pool: pg.Pool, begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect().catch((e: unknown) => Promise.reject(translateError(e, this.description)));
    let broken: Error | undefined;
    // A checked-out client has no pool listener: a connection the server ends
    // (an admin's pg_terminate_backend, a failover) would be an uncaught
    // 'error' event, i.e. a crashed hub. Its query fails instead, and the
    // client is discarded.
    const ended = (e: Error): void => {
      broken = e;
    };
    client.on('error', ended);
    try {
      await client.query(begin);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      // Also after a failed COMMIT (a deferred constraint): PostgreSQL has rolled back already, ROLLBACK only warns.
      await client.query('ROLLBACK').catch((r: unknown) => (broken = r instanceof Error ? r : new Error(String(r))));
      throw translateError(e, this.description);
    } finally {
      client.off('error', ended);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.#lock.run(async () => {
      await Promise.all([this.#readers.end(), this.#writer.end()]);
    });
  }
}

/** CREATE DATABASE over the maintenance database of the same server; another process creating it first is fine. */
async function createDatabase(url: string, database: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 15_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${quotePg(database)}`);
  } catch (e) {
    if ((e as { code?: unknown }).code !== '42P04') throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
}
