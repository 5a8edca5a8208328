/**
 * What an application sees while Outpost installs on a database that already
 * holds N rows: installBookkeeping('hub'), then installTriggers(items,
 * 'capture'), which records every existing row as initial state in
 * `_outpost_capture`. Meanwhile an "app" (a process of its own, with its own
 * connection) writes one row every 5 ms, alternating UPDATE and INSERT, and
 * records each statement's latency. The same app's latency with no install
 * running is measured first, in the same run (the baseline).
 *
 * For each dialect (MariaDB/MySQL 127.0.0.1:3306 root, PostgreSQL
 * 127.0.0.1:5432 postgres, SQLite file) and each repeat: a uniquely named
 * database, an OIMS-like `items` table of N rows, the measurement, and the
 * database dropped. Medians go to stdout and to bench/INSTALL-RESULTS.md.
 *
 *   npm run bench:install -- [--rows N] [--repeat K] [--dialects sqlite,mysql,postgres]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createServerDatabase, uniqueName } from '../test/helpers/server-db.ts';
import type { TableSchema } from '../src/protocol/index.ts';

type Dialect = 'sqlite' | 'mysql' | 'postgres';

/** ms on a clock both processes share (wall clock, sub-millisecond) */
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const APP_INTERVAL_MS = 5;
const BASELINE_MS = 3000;

const COLS = ['id', 'lab_id', 'name', 'quantity', 'price', 'status', 'notes', 'updated_at'];
const DDL: Record<Dialect, string> = {
  sqlite: `CREATE TABLE items (id TEXT PRIMARY KEY, lab_id TEXT NOT NULL, name TEXT NOT NULL, quantity INTEGER NOT NULL DEFAULT 0,
    price DECIMAL(10, 2), status TEXT NOT NULL DEFAULT 'active', notes TEXT,
    updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
    CREATE INDEX items_lab ON items (lab_id);`,
  mysql: `CREATE TABLE items (id VARCHAR(64) PRIMARY KEY, lab_id VARCHAR(64) NOT NULL, name VARCHAR(200) NOT NULL, quantity INT NOT NULL DEFAULT 0,
    price DECIMAL(10, 2), status VARCHAR(20) NOT NULL DEFAULT 'active', notes TEXT,
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), INDEX items_lab (lab_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  postgres: `CREATE TABLE items (id TEXT PRIMARY KEY, lab_id TEXT NOT NULL, name TEXT NOT NULL, quantity INTEGER NOT NULL DEFAULT 0,
    price NUMERIC(10, 2), status TEXT NOT NULL DEFAULT 'active', notes TEXT,
    updated_at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP);
    CREATE INDEX items_lab ON items (lab_id);`,
};

/** Deterministic item i: a UUID key and ~100 characters of notes. */
function row(i: number): unknown[] {
  const hex = i.toString(16).padStart(12, '0');
  return [`00000000-0000-4000-8000-${hex}`, ['lab-a', 'lab-b', 'lab-c'][i % 3], `Item ${i} ${['flask', 'beaker', 'pipette'][i % 3]}`, i % 500,
    ((i % 10_000) / 100).toFixed(2), 'active', `Notes for item ${i}: `.padEnd(100, 'x'), '2026-11-21 12:00:00.000'];
}
const keyOf = (i: number): string => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

// ---------------------------------------------------------------- the app

/** One statement the app ran: when it started and ended, and whether it failed. */
interface Sample {
  start: number;
  end: number;
  op: 'I' | 'U';
  error?: string;
}

interface AppTarget {
  dialect: Dialect;
  url: string;
  rows: number;
}

/** The app process: writes every 5 ms until told to stop, then reports its samples. */
async function appProcess(): Promise<void> {
  const target = JSON.parse(process.argv[3]!) as AppTarget;
  let exec: (sql: string, params: unknown[]) => Promise<void>;
  let close: () => Promise<void>;
  const ph = (n: number): string => (target.dialect === 'postgres' ? `$${n}` : '?');
  if (target.dialect === 'sqlite') {
    const db = new Database(target.url.replace(/^sqlite:/, ''));
    db.pragma('busy_timeout = 5000');
    exec = async (sql, params) => void db.prepare(sql).run(...params);
    close = async () => void db.close();
  } else if (target.dialect === 'mysql') {
    const c = await mysql.createConnection({ uri: target.url, charset: 'utf8mb4' });
    exec = async (sql, params) => void (await c.query(sql, params));
    close = () => c.end();
  } else {
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    exec = async (sql, params) => void (await c.query(sql, params));
    close = () => c.end();
  }
  const insert = `INSERT INTO items (${COLS.slice(0, 7).join(', ')}) VALUES (${COLS.slice(0, 7).map((_, i) => ph(i + 1)).join(', ')})`;
  const update = `UPDATE items SET quantity = quantity + 1, status = ${ph(1)} WHERE id = ${ph(2)}`;

  let running = false;
  let samples: Sample[] = [];
  let n = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const op: 'I' | 'U' = n++ % 2 === 0 ? 'U' : 'I';
      const start = now();
      const s: Sample = { start, end: start, op };
      try {
        if (op === 'U') await exec(update, [n % 2 ? 'active' : 'checked', keyOf(Math.floor(Math.random() * target.rows))]);
        else await exec(insert, [`app-${randomUUID()}`, 'lab-a', `App item ${n}`, 1, '9.99', 'active', 'written by the app while Outpost installs']);
      } catch (e) {
        s.error = (e as Error).message;
      }
      s.end = now();
      samples.push(s);
      if (samples.length === 1) process.send!({ type: 'first' });
      const wait = APP_INTERVAL_MS - (s.end - start);
      await sleep(wait > 0 ? wait : 0);
    }
  };
  let done: Promise<void> = Promise.resolve();
  process.on('message', (m: { type: string }) => {
    if (m.type === 'start') {
      samples = [];
      running = true;
      done = loop();
    } else if (m.type === 'stop') {
      running = false;
      void done.then(() => process.send!({ type: 'samples', samples }));
    } else if (m.type === 'exit') {
      void close().finally(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready' });
}

class App {
  readonly #child: ChildProcess;
  readonly #waiters = new Map<string, (m: { type: string; samples?: Sample[] }) => void>();
  constructor(target: AppTarget) {
    this.#child = fork(fileURLToPath(import.meta.url), ['--app', JSON.stringify(target)], { execArgv: ['--import', 'tsx'] });
    this.#child.on('message', (m: { type: string; samples?: Sample[] }) => {
      this.#waiters.get(m.type)?.(m);
      this.#waiters.delete(m.type);
    });
  }
  #next(type: string): Promise<{ type: string; samples?: Sample[] }> {
    return new Promise((resolve) => this.#waiters.set(type, resolve));
  }
  ready(): Promise<unknown> {
    return this.#next('ready');
  }
  /** start writing; resolves once the first statement is done */
  start(): Promise<unknown> {
    const first = this.#next('first');
    this.#child.send({ type: 'start' });
    return first;
  }
  async stop(): Promise<Sample[]> {
    const got = this.#next('samples');
    this.#child.send({ type: 'stop' });
    return (await got).samples!;
  }
  async exit(): Promise<void> {
    const gone = new Promise((r) => this.#child.once('exit', r));
    this.#child.send({ type: 'exit' });
    await gone;
  }
}

// ---------------------------------------------------------------- databases

interface Target {
  url: string;
  exec(sql: string, params?: unknown[]): Promise<void>;
  version(): Promise<string>;
  drop(): Promise<void>;
}

/** A fresh database of the dialect: a SQLite file, or a uniquely named server database (test/helpers/server-db.ts). */
async function createTarget(dialect: Dialect): Promise<Target> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-install-'));
    const path = join(dir, 'app.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    return {
      url: `sqlite:${path}`,
      async exec(sql, params = []) {
        if (params.length) db.prepare(sql).run(...params);
        else db.exec(sql);
      },
      async version() {
        return `SQLite ${(db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v}`;
      },
      async drop() {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const server = await createServerDatabase(null, dialect, uniqueName('outpost_bench'));
  return {
    url: server.url,
    async exec(sql, params = []) {
      if (params.length) await server.query(sql, params);
      else await server.exec(sql);
    },
    async version() {
      const [r] = await server.query<{ v: string }>(dialect === 'mysql' ? 'SELECT VERSION() AS v' : "SELECT current_setting('server_version') AS v");
      return `${dialect === 'mysql' ? 'MariaDB/MySQL' : 'PostgreSQL'} ${r!.v}`;
    },
    drop: () => server.close(),
  };
}

async function fill(dialect: Dialect, t: Target, rows: number): Promise<void> {
  await t.exec(DDL[dialect]);
  const per = 1000;
  if (dialect === 'sqlite') await t.exec('BEGIN');
  for (let i = 0; i < rows; i += per) {
    const n = Math.min(per, rows - i);
    let p = 0;
    const tuple = (): string => `(${COLS.map(() => (dialect === 'postgres' ? `$${++p}` : '?')).join(', ')})`;
    const values = Array.from({ length: n }, tuple).join(', ');
    const params = Array.from({ length: n }, (_, k) => row(i + k)).flat();
    await t.exec(`INSERT INTO items (${COLS.join(', ')}) VALUES ${values}`, params);
  }
  if (dialect === 'sqlite') await t.exec('COMMIT');
}

// ---------------------------------------------------------------- one run

interface RunResult {
  bookkeepingMs: number;
  triggersMs: number;
  installMs: number;
  initialRows: number;
  /** rows in the table when installTriggers began: N plus the app's inserts committed before it */
  rowsAtStart: number;
  appInsertsDuringInstall: number;
  installStatements: number;
  installMaxMs: number;
  installP99Ms: number;
  baselineP99Ms: number;
  baselineMaxMs: number;
  errors: number;
  firstError?: string;
}

function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function runOnce(dialect: Dialect, rows: number): Promise<{ result: RunResult; version: string }> {
  const { openAdapter } = await import('../src/adapters/open.ts');
  const t = await createTarget(dialect);
  try {
    await fill(dialect, t, rows);
    const version = await t.version();
    const app = new App({ dialect, url: t.url, rows });
    await app.ready();

    // Baseline: the same app, nothing else running.
    await app.start();
    await sleep(BASELINE_MS);
    const baseline = await app.stop();
    // The baseline's inserts go again (no triggers yet), so the table holds exactly N rows.
    await t.exec(`DELETE FROM items WHERE id LIKE 'app-%'`);

    const adapter = await openAdapter(t.url);
    try {
      const found = (await adapter.introspect()).find((x) => x.name === 'items')!;
      const table: TableSchema = { ...found, direction: 'both', policy: 'merge' };
      await app.start();
      await sleep(200);
      const t0 = now();
      await adapter.installBookkeeping('hub');
      const t1 = now();
      const { initialRows } = await adapter.installTriggers(table, 'capture');
      const t2 = now();
      await sleep(200);
      const during = await app.stop();
      await app.exit();

      const overlapping = during.filter((s) => s.end >= t0 && s.start <= t2);
      const lat = (xs: Sample[]): number[] => xs.filter((s) => !s.error).map((s) => s.end - s.start);
      const errs = [...baseline, ...during].filter((s) => s.error);
      const result: RunResult = {
        bookkeepingMs: t1 - t0,
        triggersMs: t2 - t1,
        installMs: t2 - t0,
        initialRows,
        rowsAtStart: rows + during.filter((s) => s.op === 'I' && !s.error && s.end < t1).length,
        appInsertsDuringInstall: during.filter((s) => s.op === 'I' && !s.error && s.end >= t1 && s.start <= t2).length,
        installStatements: overlapping.length,
        installMaxMs: Math.max(...overlapping.map((s) => s.end - s.start)),
        installP99Ms: percentile(lat(overlapping), 99),
        baselineP99Ms: percentile(lat(baseline), 99),
        baselineMaxMs: Math.max(...lat(baseline)),
        errors: errs.length,
        firstError: errs[0]?.error,
      };
      return { result, version };
    } finally {
      await adapter.close();
    }
  } finally {
    await t.drop();
  }
}

// ---------------------------------------------------------------- main

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number): string => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { rows: { type: 'string' }, repeat: { type: 'string' }, dialects: { type: 'string' } } });
  const rows = Number(args.rows ?? 100_000);
  const repeat = Number(args.repeat ?? 3);
  const dialects = (args.dialects ?? 'mysql,postgres,sqlite').split(',') as Dialect[];
  const versions: string[] = [];
  const lines: string[] = [];
  const NAMES: Record<Dialect, string> = { mysql: 'MariaDB', postgres: 'PostgreSQL', sqlite: 'SQLite' };

  for (const d of dialects) {
    const runs: RunResult[] = [];
    for (let i = 0; i < repeat; i++) {
      const { result, version } = await runOnce(d, rows);
      if (i === 0) versions.push(version);
      runs.push(result);
      // Every row there when installTriggers began, plus the app's inserts in flight then, plus (MariaDB) app rows inserted between trigger creation and the initial read.
      const okRows = result.initialRows >= result.rowsAtStart && result.initialRows <= result.rowsAtStart + result.appInsertsDuringInstall;
      console.log(`${d} run ${i + 1}: install ${ms(result.installMs)} (bookkeeping ${ms(result.bookkeepingMs)}, triggers + initial capture ${ms(result.triggersMs)}), ` +
        `captured ${result.initialRows} of ${result.rowsAtStart} rows at start${okRows ? '' : ' (MISMATCH)'}, app during install: ${result.installStatements} writes, p99 ${ms(result.installP99Ms)}, max ${ms(result.installMaxMs)}; ` +
        `baseline p99 ${ms(result.baselineP99Ms)}; errors ${result.errors}${result.firstError ? ` (${result.firstError})` : ''}`);
    }
    const m = (f: (r: RunResult) => number): number => median(runs.map(f));
    const captured = runs.map((r) => `${r.initialRows} of ${r.rowsAtStart}`).join(' / ');
    lines.push(`| ${NAMES[d]} | ${ms(m((r) => r.installMs))} | ${ms(m((r) => r.triggersMs))} | ${captured} | ${m((r) => r.installStatements)} | ${ms(m((r) => r.installP99Ms))} | ${ms(m((r) => r.installMaxMs))} | ${ms(m((r) => r.baselineP99Ms))} | ${runs.map((r) => r.errors).join(' / ')} |`);
    console.log(lines.at(-1));
  }

  const cpu = cpus();
  const machine = `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.version}; ${versions.join(', ')}`;
  const md = `# Install on an existing database: what the app sees

Written by \`npm run bench:install\` (bench/install-capture.ts) on ${new Date().toISOString()}.
Machine: ${machine}.

An \`items\` table of ${rows.toLocaleString('en-US')} OIMS-like rows (UUID text key, lab_id, name, quantity, DECIMAL price, status, ~100-character notes, timestamp).
Outpost runs \`installBookkeeping('hub')\` then \`installTriggers(items, 'capture')\`, which records every existing row in \`_outpost_capture\`.
Meanwhile an app, in a process of its own with its own connection, writes one row every ${APP_INTERVAL_MS} ms (alternately a single-row UPDATE of a random existing row and a single-row INSERT);
"during install" counts every app statement that overlapped the install. The baseline is the same app for ${BASELINE_MS / 1000} s just before, with no install running.
Median of ${repeat} runs, each on a freshly created database (the "captured" and "errors" columns list every run).

| database | install (total) | of which triggers + initial capture | rows captured of rows at start | app writes during install | app p99 during install | app max during install | app p99 baseline | app errors |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${lines.join('\n')}

"rows captured" is \`initialRows\` as installTriggers returns it; "rows at start" is the ${rows.toLocaleString('en-US')} rows plus the app's inserts committed before \`installTriggers\` began.
The count may exceed it by app inserts that were in flight then, and on MariaDB by app rows inserted after the triggers were created and before the initial INSERT … SELECT read the table (recorded twice, which is harmless); the bench checks it lies in that range.
`;
  writeFileSync(new URL('INSTALL-RESULTS.md', import.meta.url), md);
  console.log(`\nwritten to bench/INSTALL-RESULTS.md\n${machine}`);
}

if (process.argv[2] === '--app') await appProcess();
else await main();
