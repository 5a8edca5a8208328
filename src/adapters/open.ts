import { existsSync } from 'node:fs';
import { OutpostError } from '../protocol/index.ts';
import type { Adapter } from './adapter.ts';
import { SqliteAdapter } from './sqlite/sqlite-adapter.ts';
import { MysqlAdapter } from './mysql/mysql-adapter.ts';
import { PostgresAdapter } from './postgres/postgres-adapter.ts';

/**
 * Open a database by URL: `sqlite:PATH` (or `sqlite://PATH`),
 * `mysql://user:pass@host:port/db` (or `mariadb://`),
 * `postgres://user:password@host:port/database` (or `postgresql://`).
 */
export interface OpenOptions {
  /** refuse a database that does not exist yet (instead of creating it) */
  mustExist?: boolean;
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
    return new SqliteAdapter(path);
  }
  if (scheme === 'mysql' || scheme === 'mariadb') return MysqlAdapter.open(url, { mustExist: opts.mustExist });
  if (scheme === 'postgres' || scheme === 'postgresql') return PostgresAdapter.open(url, { mustExist: opts.mustExist ?? false });

  throw new OutpostError('DB_URL_INVALID', `unknown database scheme ${JSON.stringify(scheme)} (expected sqlite:, mysql:// or postgres://)`);
}
