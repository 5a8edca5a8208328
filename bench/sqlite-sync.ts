/**
 * Sync throughput on the embedded default (SQLite hub, SQLite labs), each
 * figure next to a baseline measured in the same run on the same machine:
 *
 *   push      rows/s from a lab into the hub    vs raw 1,000-row multi-row INSERTs into the hub's database
 *   pull      rows/s from the hub into a lab    vs raw pipeline: SELECT from the hub + 1,000-row INSERTs into a lab file
 *   snapshot  a new lab's first copy            vs the same raw pipeline
 *   capture   app INSERTs with Outpost's triggers vs the same INSERTs without them
 *
 * The hub is a real HTTP server on 127.0.0.1 and the labs are real node
 * agents (in this process). Each figure is the median of --repeat runs.
 * Results go to stdout and to bench/RESULTS.md with the machine they ran on.
 *
 *   npm run bench -- [--rows N] [--repeat K] [--quick]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem, platform, release } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseArgs } from 'node:util';
import { SqliteAdapter } from '../src/adapters/sqlite/sqlite-adapter.ts';
import { Hub } from '../src/hub/hub.ts';
import { buildServer } from '../src/hub/server.ts';
import { loadHubConfig } from '../src/hub/config.ts';
import { addNode } from '../src/hub/enrollment.ts';
import { NodeAgent } from '../src/node/agent.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const { values: args } = parseArgs({ options: { rows: { type: 'string' }, repeat: { type: 'string' }, quick: { type: 'boolean' } } });
const ROWS = Number(args.rows ?? (args.quick ? 5_000 : 50_000));
const REPEAT = Number(args.repeat ?? 3);
const SCHEMA = (await import('node:fs')).readFileSync(join(ROOT, 'examples/oims/schema.sqlite.sql'), 'utf8');
const CONFIG = loadHubConfig(join(ROOT, 'examples/oims/outpost.config.json'));
const COLS = ['id', 'lab_id', 'category_id', 'name', 'serial_number', 'quantity', 'unit_price', 'status', 'notes', 'updated_at'];

/** Deterministic OIMS-like items of about 350 bytes. */
function row(i: number): unknown[] {
  const hex = i.toString(16).padStart(12, '0');
  return [`00000000-0000-4000-8000-${hex}`, ['lab-a', 'lab-b', 'lab-c'][i % 3], ['glassware', 'reagents', 'instruments'][i % 3], `Item ${i} ${'flask beaker pipette'.split(' ')[i % 3]}`,
    `SN-${hex}`, i % 500, (i % 10_000) / 100, 'active', `Notes for item ${i}: `.padEnd(100, 'x'), '2026-11-21T12:00:00.000Z'];
}

function insertBatched(db: Database.Database, rows: number, from = 0): void {
  const per = 1000;
  const stmt = db.prepare(`INSERT INTO items (${COLS.join(', ')}) VALUES ${Array(per).fill(`(${COLS.map(() => '?').join(', ')})`).join(', ')}`);
  db.transaction(() => {
    for (let i = from; i < from + rows; i += per) {
      const n = Math.min(per, from + rows - i);
      const args = Array.from({ length: n }, (_, k) => row(i + k)).flat();
      if (n === per) stmt.run(...args);
      else db.prepare(`INSERT INTO items (${COLS.join(', ')}) VALUES ${Array(n).fill(`(${COLS.map(() => '?').join(', ')})`).join(', ')}`).run(...args);
    }
  })();
}

function fresh(dir: string, name: string): string {
  const path = join(dir, name);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  db.close();
  return path;
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Figures { push: number; pushBase: number; pull: number; pullBase: number; snap: number; snapBase: number; capture: number; captureBase: number }

async function once(): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-'));
  try {
    // Baselines first: raw batched INSERT into a hub-shaped database, and the raw copy pipeline.
    const rawHub = new Database(fresh(dir, 'raw-hub.db'));
    rawHub.pragma('synchronous = FULL');
    const pushBase = await time(() => insertBatched(rawHub, ROWS));
    const copy = (): void => {
      const to = new Database(fresh(dir, `raw-lab-${Math.random()}.db`));
      to.pragma('synchronous = FULL');
      const per = 1000;
      const sel = rawHub.prepare(`SELECT ${COLS.join(', ')} FROM items`).raw();
      let batch: unknown[][] = [];
      const flush = (): void => {
        if (!batch.length) return;
        to.prepare(`INSERT INTO items (${COLS.join(', ')}) VALUES ${batch.map(() => `(${COLS.map(() => '?').join(', ')})`).join(', ')}`).run(...batch.flat());
        batch = [];
      };
      to.transaction(() => {
        for (const r of sel.iterate() as Iterable<unknown[]>) {
          batch.push(r);
          if (batch.length === per) flush();
        }
        flush();
      })();
      to.close();
    };
    const pullBase = await time(copy);
    const snapBase = pullBase;
    rawHub.close();

    // Capture overhead: the same app INSERTs (one statement per row, one transaction) with and without triggers.
    const appInsert = (path: string): Promise<number> => time(() => {
      const db = new Database(path);
      const ins = db.prepare(`INSERT INTO items (${COLS.join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})`);
      db.transaction(() => { for (let i = 0; i < ROWS; i++) ins.run(...row(i)); })();
      db.close();
    });
    const captureBase = await appInsert(fresh(dir, 'plain.db'));

    // Outpost: a hub over HTTP, lab A pushes, lab B pulls, lab C takes a snapshot.
    const hubDb = new SqliteAdapter(fresh(dir, 'hub.db'));
    const hub = await Hub.open(hubDb, CONFIG);
    const app = await buildServer(hub);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const join_ = async (name: string): Promise<NodeAgent> => {
      const { code } = await addNode(hubDb, name);
      return (await NodeAgent.join(new SqliteAdapter(join(dir, `${name}.db`)), url, code)).agent;
    };
    const a = await join_('lab-a');
    const b = await join_('lab-b');
    const capture = await appInsert(join(dir, 'lab-a.db'));
    const push = await time(() => a.sync());
    const pull = await time(() => b.sync());
    const snap = await time(() => join_('lab-c'));
    await app.close();
    await hubDb.close();
    return { push, pushBase, pull, pullBase, snap, snapBase, capture, captureBase };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs: Figures[] = [];
for (let i = 0; i < REPEAT; i++) {
  process.stderr.write(`\rrun ${i + 1}/${REPEAT} (${ROWS} rows)…`);
  runs.push(await once());
}
process.stderr.write('\n');
const m = (k: keyof Figures): number => median(runs.map((r) => r[k]));
const rate = (s: number): string => `${Math.round(ROWS / s).toLocaleString('en-US')} rows/s`;
const lines = [
  ['figure', 'Outpost', 'baseline (same run)', 'ratio'],
  ['push, lab → hub', rate(m('push')), `raw batched INSERT: ${rate(m('pushBase'))}`, `${(m('pushBase') / m('push')).toFixed(2)}×`],
  ['pull, hub → lab', rate(m('pull')), `raw SELECT + batched INSERT: ${rate(m('pullBase'))}`, `${(m('pullBase') / m('pull')).toFixed(2)}×`],
  ['snapshot into an empty lab', `${m('snap').toFixed(2)} s`, `raw pipeline: ${m('snapBase').toFixed(2)} s`, `${(m('snapBase') / m('snap')).toFixed(2)}×`],
  ['capture overhead of app INSERTs', `${m('capture').toFixed(2)} s`, `no triggers: ${m('captureBase').toFixed(2)} s`, `${(m('capture') / m('captureBase')).toFixed(2)}× the time`],
];
const table = lines.map((l) => `| ${l.join(' | ')} |`);
table.splice(1, 0, '| --- | --- | --- | --- |');
const sqliteVersion = (new Database(':memory:').prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${platform()} ${release()}, Node ${process.version}, SQLite ${sqliteVersion}`;
const report = [
  '# Benchmark results',
  '',
  `Written by \`npm run bench\` (bench/sqlite-sync.ts) on ${new Date().toISOString()}.`,
  `Machine: ${machine}.`,
  `${ROWS.toLocaleString('en-US')} OIMS items of ~350 bytes; median of ${REPEAT} runs; ratios are Outpost against the baseline of the same run (for throughput, above 1× is faster than the baseline).`,
  '',
  ...table,
  '',
].join('\n');
console.log(report);
if (!args.quick) writeFileSync(join(ROOT, 'bench/RESULTS.md'), report);
