/** The machine a run measured: CPU, memory, Node and the database servers' versions. */
import { cpus, platform, release, totalmem } from 'node:os';
import Database from 'better-sqlite3';
import { MYSQL_ROOT, POSTGRES_ROOT } from '../test/helpers/server-db.ts';
import { openAppDb } from './app-db.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  sqlite: string;
  mariadb: string;
  postgres: string;
}

export async function describeMachine(): Promise<Machine> {
  const sqlite = new Database(':memory:');
  const sqliteVersion = (sqlite.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  sqlite.close();
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    sqlite: `${sqliteVersion} (better-sqlite3)`,
    mariadb: await serverVersion(`${MYSQL_ROOT}/mysql`, 'SELECT VERSION() AS v'),
    postgres: await serverVersion(`${POSTGRES_ROOT}/postgres`, 'SHOW server_version'),
  };
}

async function serverVersion(url: string, sql: string): Promise<string> {
  try {
    const db = await openAppDb(url);
    try {
      const [row] = await db.all(sql);
      return String(Object.values(row ?? {})[0] ?? 'unknown');
    } finally {
      await db.close();
    }
  } catch (e) {
    return `unreachable (${(e as Error).message})`;
  }
}

export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; SQLite ${m.sqlite}; MariaDB ${m.mariadb}; PostgreSQL ${m.postgres}`;
}
