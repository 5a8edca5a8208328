import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ColumnSchema, TableSchema } from '../../protocol/index.ts';
import type { Adapter, AdapterCapabilities, IntrospectedTable, Role, Tx, WriteOptions } from '../adapter.ts';
import { OutpostError } from '../../protocol/index.ts';
import { RowStoreTx } from '../row-store-tx.ts';
import { PLAIN_SAVEPOINTS, type SavepointDialect } from '../savepoint.ts';
import type { SqlRunner } from '../sql-runner.ts';
import { Mutex } from '../mutex.ts';
import { addColumnSql, bookkeepingDdl, createTableSql } from './sqlite-ddl.ts';
import { introspectSqlite } from './sqlite-introspect.ts';
import { captureTriggersSql, initialCaptureSql, readonlyTriggersSql, triggerNames } from './sqlite-capture.ts';
import { SqliteRows, StatementCache } from './sqlite-apply.ts';
import { quoteSqlite } from './sqlite-quote.ts';

const CAPS: AdapterCapabilities = Object.freeze({
  commitOrderedIds: true,
  // It could (PRAGMA defer_foreign_keys), at the price of recompiling every statement each transaction: checked per statement, as on MariaDB.
  deferrableForeignKeys: false,
  foreignKeyChecksOff: true,
  transactionalDdl: true,
});

export interface SqliteOptions {
  /**
   * The passphrase of an encrypted file (SQLCipher 4 format). A file that
   * does not exist yet is created encrypted with it.
   */
  key?: string;
}

/**
 * Encryption at rest: SQLite3MultipleCiphers' SQLCipher 4 scheme (AES-256
 * pages, HMAC-SHA512, PBKDF2-HMAC-SHA512 with 256,000 iterations), so that
 * any SQLCipher 4 build opens the file with `PRAGMA key = 'passphrase'`.
 * Pages are encrypted in the database and in the WAL; temporary tables and
 * sort files are kept in memory.
 *
 * The passphrase is stretched once per adapter, here, with the file's salt
 * (its first 16 bytes; a new file gets a random one), and every connection
 * is given the derived key with that salt as SQLCipher's raw key
 * (`x'key salt'`): SQLite would otherwise repeat the 256,000 iterations for
 * each reader connection it opens (0.25–0.8 s each here). The key is the one
 * `PRAGMA key = 'passphrase'` derives from the same salt.
 */
function sqlcipherRawKey(passphrase: string, salt: Buffer): string {
  const key = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), salt, 256_000, 32, 'sha512');
  return `x'${key.toString('hex')}${salt.toString('hex')}'`;
}

/**
 * The driver of encrypted files: better-sqlite3-multiple-ciphers (SQLite
 * with SQLite3MultipleCiphers, better-sqlite3's API), loaded the first time
 * an encrypted file is opened. Plain files keep the stock better-sqlite3, so
 * that an app that opens the same plain file with better-sqlite3 in the same
 * process (the agent embedded in the lab app; the tests) shares one copy of
 * SQLite with Outpost: two copies in one process lose each other's POSIX
 * locks when either closes the file (sqlite.org/howtocorrupt.html, 2.2.1).
 * An app that opens an encrypted file uses the cipher build, and so shares
 * this one.
 */
let cipherDriver: typeof Database | undefined;
function cipherDatabase(): typeof Database {
  cipherDriver ??= createRequire(import.meta.url)('better-sqlite3-multiple-ciphers') as typeof Database;
  return cipherDriver;
}

function applyKey(db: Database.Database, rawKey: string): void {
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  db.pragma(`key = "${rawKey}"`);
  db.pragma('temp_store = MEMORY');
}

/** Connection settings that let the lab app and the agent share one file (HARD-PARTS §6). */
function openConnection(path: string, readonly: boolean, key: string | undefined): Database.Database {
  const Driver = key === undefined ? Database : cipherDatabase();
  const db = new Driver(path, { readonly, fileMustExist: readonly });
  if (key !== undefined) applyKey(db, key);
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    // FULL: a commit the hub acknowledges survives a power cut, not only a crash.
    db.pragma('synchronous = FULL');
  }
  db.pragma('foreign_keys = ON');
  return db;
}

interface Reader {
  db: Database.Database;
  st: StatementCache;
  tx: Tx;
}

function openReader(path: string, key: string | undefined): Reader {
  const db = openConnection(path, true, key);
  const st = new StatementCache(db);
  return { db, st, tx: sqliteTx(st) };
}

/** A transaction on one connection: the portable bookkeeping and this dialect's row store. */
function sqliteTx(st: StatementCache, savepoints?: SavepointDialect): Tx {
  return new RowStoreTx(runner(st), new SqliteRows(st), undefined, savepoints);
}

/**
 * Foreign keys are checked per statement, as on MariaDB (the engine writes
 * every batch parents first and deletes children first, apply-order.ts). Not
 * deferred to commit: `PRAGMA defer_foreign_keys` (like every flag pragma)
 * expires all of the connection's prepared statements, so setting it in each
 * transaction made SQLite compile every statement again each time (an upsert
 * with its triggers: 40 µs instead of 3).
 */
const SAVEPOINTS: SavepointDialect = PLAIN_SAVEPOINTS((e) => translateError(e));

function runner(st: StatementCache): SqlRunner {
  return {
    async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      return st.get(sql).all(...params) as T[];
    },
    async run(sql: string, params: readonly unknown[] = []): Promise<number> {
      return st.get(sql).run(...params).changes;
    },
    async insertReturningId(sql: string, params: readonly unknown[]): Promise<number> {
      return Number(st.get(sql).run(...params).lastInsertRowid);
    },
  };
}

export class SqliteAdapter implements Adapter {
  readonly dialect = 'sqlite' as const;
  readonly caps = CAPS;
  readonly description: string;
  readonly path: string;
  readonly #db: Database.Database;
  /** the writer's prepared statements (transaction control included: compiled once, not per transaction) */
  readonly #st: StatementCache;
  readonly #writeTx: Tx;
  readonly #lock = new Mutex();
  /** idle read-only connections; each read transaction takes one, so reads never wait for each other */
  readonly #readers: Reader[] = [];
  /** SQLCipher's raw key (derived key and salt, hex) of an encrypted file */
  readonly #key: string | undefined;
  #closed = false;

  constructor(path: string, opts: SqliteOptions = {}) {
    this.path = resolve(path);
    this.description = `sqlite:${path}`;
    const { kind, head } = fileKind(this.path);
    if (kind === 'other' && opts.key === undefined) {
      throw new OutpostError('DB_KEY_INVALID', `${this.description} is encrypted (or is not a SQLite database): give its key with OUTPOST_DB_KEY or --db-key-file`);
    }
    if (kind === 'plain' && opts.key !== undefined) {
      throw new OutpostError('DB_KEY_INVALID', `${this.description} is not encrypted, but a key was given; Outpost does not encrypt an existing file in place (see docs/security.md), so open it without OUTPOST_DB_KEY or --db-key-file`);
    }
    // The salt of an encrypted file is its first 16 bytes; a new file gets a random one.
    if (opts.key !== undefined) this.#key = sqlcipherRawKey(opts.key, kind === 'other' ? head : randomBytes(16));
    mkdirSync(dirname(this.path), { recursive: true });
    try {
      this.#db = openConnection(this.path, false, this.#key);
      this.#db.exec('CREATE TABLE IF NOT EXISTS _outpost_applying (x INTEGER)');
    } catch (e) {
      if ((e as { code?: unknown }).code === 'SQLITE_NOTADB') {
        throw new OutpostError('DB_KEY_INVALID', opts.key === undefined
          ? `${this.description} is not a SQLite database, or is encrypted: give its key with OUTPOST_DB_KEY or --db-key-file`
          : `the key does not open ${this.description}: it is the wrong key, or the file is not an Outpost-encrypted SQLite database`);
      }
      throw translateError(e);
    }
    // From here on the writer never waits inside SQLite (a busy wait there
    // blocks the whole process, and an app in the same process holding a
    // transaction across an await could never finish it): #immediate waits
    // for the write lock without blocking.
    this.#db.pragma('busy_timeout = 0');
    this.#st = new StatementCache(this.#db);
    this.#writeTx = sqliteTx(this.#st, SAVEPOINTS);
  }

  /** Run on the read-write connection, one at a time, with SQLite's errors translated. */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      try {
        return await fn();
      } catch (e) {
        throw translateError(e);
      }
    });
  }

  async introspect(): Promise<IntrospectedTable[]> {
    return introspectSqlite(this.#db);
  }

  async installBookkeeping(role: Role): Promise<void> {
    await this.#locked(() =>
      this.#immediate(() => {
        for (const sql of bookkeepingDdl(role)) {
          try {
            this.#db.exec(sql);
          } catch (e) {
            // SQLite has no ADD COLUMN IF NOT EXISTS: a column added by an earlier install is there already.
            if (!(sql.startsWith('ALTER TABLE') && /duplicate column name/i.test((e as Error).message))) throw e;
          }
        }
      }),
    );
  }

  /**
   * Run `body` (synchronous) in a BEGIN IMMEDIATE transaction, waiting for
   * the write lock without blocking the event loop: another writer (the lab
   * app) holds it for as long as its transaction lasts.
   */
  async #immediate<T>(body: () => T): Promise<T> {
    await this.#begin();
    try {
      const r = body();
      this.#st.get('COMMIT').run();
      return r;
    } catch (e) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw e;
    }
  }

  async #begin(): Promise<void> {
    await retryWhileBusy(() => this.#st.get('BEGIN IMMEDIATE').run(), this.description);
  }

  async installTriggers(table: TableSchema, mode: 'capture' | 'readonly' | 'none', opts: { initialAtEpoch?: boolean } = {}): Promise<{ initialRows: number }> {
    return this.#locked(() =>
      this.#immediate(() => {
        for (const name of triggerNames(table.name)) this.#db.exec(`DROP TRIGGER IF EXISTS ${quoteSqlite(name)}`);
        const sql = mode === 'capture' ? captureTriggersSql(table) : mode === 'readonly' ? readonlyTriggersSql(table) : [];
        for (const s of sql) this.#db.exec(s);
        // The first capture install records the rows already there; the
        // marker lives in the same transaction, so this happens exactly once.
        const marker = `captured:${table.name}`;
        const seen = this.#db.prepare('SELECT 1 FROM _outpost_state WHERE k = ?').get(marker);
        if (mode !== 'capture' || seen) return { initialRows: 0 };
        const n = this.#db.prepare(initialCaptureSql(table, opts.initialAtEpoch ?? false)).run().changes;
        this.#db.prepare('INSERT INTO _outpost_state (k, v) VALUES (?, ?)').run(marker, String(Date.now()));
        return { initialRows: n };
      }),
    );
  }

  async createTable(table: TableSchema): Promise<void> {
    await this.#locked(() => this.#immediate(() => this.#db.exec(createTableSql(table))));
  }

  async setKeyStart(table: TableSchema, next: number): Promise<boolean> {
    return this.#locked(async () => {
      const hasSeq = this.#db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").get();
      const sql = (this.#db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table.name) as { sql: string } | undefined)?.sql ?? '';
      if (!hasSeq || !/AUTOINCREMENT/i.test(sql)) return false;
      await this.#immediate(() => {
        const n = this.#db.prepare('UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?').run(next - 1, table.name).changes;
        if (n === 0) this.#db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table.name, next - 1);
      });
      return true;
    });
  }

  async addColumn(table: TableSchema, column: ColumnSchema): Promise<void> {
    await this.#locked(() => this.#immediate(() => this.#db.exec(addColumnSql(table, column))));
  }

  async execScript(sql: string): Promise<void> {
    // A script may hold statements a transaction cannot (PRAGMA, its own BEGIN): run as it is, waiting while the database is busy.
    await this.#locked(() => retryWhileBusy(() => this.#db.exec(sql), this.description));
  }

  write<T>(fn: (tx: Tx) => Promise<T>, opts: WriteOptions = {}): Promise<T> {
    return this.#lock.run(async () => {
      const fkOff = opts.checkForeignKeys === false;
      // In WAL mode NORMAL skips the commit's fsync: the next FULL commit (the app's, the agent's own) or checkpoint makes it durable.
      const relaxed = opts.refetchable === true;
      const restore = (): void => {
        if (fkOff) this.#db.pragma('foreign_keys = ON');
        if (relaxed) this.#st.get('PRAGMA synchronous = FULL').run();
      };
      if (fkOff) this.#db.pragma('foreign_keys = OFF');
      if (relaxed) this.#st.get('PRAGMA synchronous = NORMAL').run();
      try {
        await this.#begin();
      } catch (e) {
        restore();
        throw translateError(e);
      }
      try {
        this.#st.get('INSERT INTO _outpost_applying (x) VALUES (1)').run();
        const result = await fn(this.#writeTx);
        this.#st.get('DELETE FROM _outpost_applying').run();
        this.#st.get('COMMIT').run();
        return result;
      } catch (e) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw translateError(e);
      } finally {
        restore();
      }
    });
  }

  async read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the database is closed');
    const r = this.#readers.pop() ?? openReader(this.path, this.#key);
    r.st.get('BEGIN').run();
    try {
      // The first read fixes the snapshot the whole transaction sees.
      r.st.get('SELECT COUNT(*) FROM sqlite_master').get();
      return await fn(r.tx);
    } finally {
      if (r.db.inTransaction) r.st.get('COMMIT').run();
      if (this.#closed || this.#readers.length >= 4) r.db.close();
      else this.#readers.push(r);
    }
  }

  async close(): Promise<void> {
    await this.#lock.run(async () => {
      this.#closed = true;
      for (const r of this.#readers.splice(0)) r.db.close();
      this.#db.close();
    });
  }
}

/** The first 16 bytes of every unencrypted SQLite 3 file; an encrypted one starts with its random salt. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** 'none': no file yet, or an empty one (SQLite writes the header with the first table); 'plain': a SQLite file; 'other': anything else, such as an encrypted one. */
function fileKind(path: string): { kind: 'none' | 'plain' | 'other'; head: Buffer } {
  const head = Buffer.alloc(16);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { kind: 'none', head }; // missing (or unreadable: SQLite reports that as it opens it)
  }
  try {
    const n = readSync(fd, head, 0, 16, 0);
    if (n === 0) return { kind: 'none', head };
    return { kind: n === 16 && head.equals(SQLITE_HEADER) ? 'plain' : 'other', head };
  } finally {
    closeSync(fd);
  }
}

/** How long the writer waits for another connection's write transaction to end before it reports DB_BUSY. */
const BUSY_WAIT_MS = 30_000;

/** Run `fn` until it does not fail with SQLITE_BUSY, waiting (without blocking) a little longer each time. */
async function retryWhileBusy(fn: () => void, what: string): Promise<void> {
  const started = Date.now();
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      fn();
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') throw e;
      if (Date.now() - started > BUSY_WAIT_MS) {
        throw new OutpostError('DB_BUSY', `${what} stayed locked by another writer for ${BUSY_WAIT_MS / 1000} s; try again`, { code });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Constraint failures become APPLY_FAILED, a full disk DISK_FULL, other I/O
 * failures DB_IO_ERROR (the transaction was rolled back either way); anything
 * else is passed on.
 */
function translateError(e: unknown): unknown {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return e;
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new OutpostError('APPLY_FAILED', `the database refused a change: ${(e as Error).message}`, { constraint: code });
  }
  if (code === 'SQLITE_FULL') {
    return new OutpostError('DISK_FULL', `the disk holding the database is full (${(e as Error).message}); nothing of this transaction was written; free space and sync again`, { dbCode: code });
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new OutpostError('DB_IO_ERROR', `the database file could not be read or written (${code}: ${(e as Error).message}); nothing of this transaction was written`, { dbCode: code });
  }
  return e;
}
