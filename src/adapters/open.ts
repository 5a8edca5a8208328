import { existsSync } from 'node:fs';
import { OutpostError } from '../protocol/index.ts';
import type { Adapter } from './adapter.ts';

/**
 * Open a database by URL: `sqlite:PATH` (or `sqlite://PATH`),
 * `mysql://user:pass@host:port/db` (or `mariadb://`),
 * `postgres://user:password@host:port/database` (or `postgresql://`).
 */
export interface OpenOptions {
  /** refuse a database that does not exist yet (instead of creating it) */
  mustExist?: boolean;
  /**
   * the encryption key (passphrase) of a SQLite file (SQLCipher 4 format):
   * a new file is created encrypted; an existing one must have been made
   * with this key. Refused for MariaDB and PostgreSQL URLs.
   */
  key?: string;
}

export async function openAdapter(url: string, opts: OpenOptions = {}): Promise<Adapter> {
  const m = /^([a-z0-9+]+):(.*)$/i.exec(url);
  if (!m) throw new OutpostError('DB_URL_INVALID', `not a database URL: ${JSON.stringify(url)} (expected sqlite:PATH, mysql://… or postgres://…)`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'sqlite' || scheme === 'file') {
    const path = rest.startsWith('//') ? rest.slice(2) : rest;
    if (!path) throw new OutpostError('DB_URL_INVALID', 'sqlite: URL has no path (sqlite:./data/hub.db)');
    if (opts.mustExist && !existsSync(path)) throw new OutpostError('DB_URL_INVALID', `no database at ${path}`);
    // Each dialect's module (and its driver) is loaded when a URL needs it.
    const { SqliteAdapter } = await import('./sqlite/sqlite-adapter.ts');
    return new SqliteAdapter(path, { key: opts.key });
  }
  if (opts.key !== undefined && ['mysql', 'mariadb', 'postgres', 'postgresql'].includes(scheme)) {
    throw new OutpostError('DB_KEY_INVALID', `an encryption key (OUTPOST_DB_KEY or --db-key-file) is only for SQLite files; a ${scheme}:// database is encrypted at rest by its server, not by Outpost`);
  }
  if (scheme === 'mysql' || scheme === 'mariadb') return (await import('./mysql/mysql-adapter.ts')).MysqlAdapter.open(url, { mustExist: opts.mustExist });
  if (scheme === 'postgres' || scheme === 'postgresql') return (await import('./postgres/postgres-adapter.ts')).PostgresAdapter.open(url, { mustExist: opts.mustExist ?? false });

  throw new OutpostError('DB_URL_INVALID', `unknown database scheme ${JSON.stringify(scheme)} (expected sqlite:, mysql:// or postgres://)`);
}
