/**
 * The databases a benchmark run uses: uniquely named MariaDB/PostgreSQL
 * databases (the test suite's helpers: 127.0.0.1, root / postgres) and
 * SQLite files in a temporary directory, with the OIMS schema when asked;
 * all of them removed when their scope closes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServerDatabase, uniqueName } from '../test/helpers/server-db.ts';
import { sqliteConnection, type Dialect, type ServerDialect } from './app-db.ts';
import type { Scope } from './scope.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
export const OIMS_CONFIG = join(ROOT, 'examples/oims/outpost.config.json');

export function oimsSchema(dialect: Dialect): string {
  return readFileSync(join(ROOT, `examples/oims/schema.${dialect}.sql`), 'utf8');
}

/** A new, uniquely named database on the local server, dropped when `scope` closes; returns its URL. */
export async function serverDatabase(scope: Scope, dialect: ServerDialect, opts: { schema: boolean }): Promise<string> {
  const db = await createServerDatabase(null, dialect, uniqueName('outpost_bench'));
  scope.defer(() => db.close());
  if (opts.schema) await db.exec(oimsSchema(dialect));
  return db.url;
}

/** A SQLite file with the OIMS schema (labs and categories seeded); returns its URL. */
export function sqliteDatabase(path: string): string {
  const db = sqliteConnection(path);
  db.exec(oimsSchema('sqlite'));
  db.close();
  return `sqlite:${path}`;
}

/** A temporary directory, removed when `scope` closes. */
export function tempDir(scope: Scope): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A database of `dialect` with the OIMS schema: a server database, or a SQLite file in `dir`. */
export async function oimsDatabase(scope: Scope, dialect: Dialect, dir: string, name: string): Promise<string> {
  return dialect === 'sqlite' ? sqliteDatabase(join(dir, `${name}.db`)) : serverDatabase(scope, dialect, { schema: true });
}
