/**
 * Figures 7 and 8, Outpost against other ways of moving the same N rows (a
 * smaller N: the naive loop is slow). In each run the app inserts N new rows
 * on the pusher, which pushes them, and the puller pulls them (as in
 * figures 1 and 2); then, on the same rows:
 *
 *   naive    per row, SELECT it on the source and upsert it on the other
 *            side, each its own round trip and commit
 *   pouchdb  PouchDB replicating N documents (bench/peers/pouchdb.ts, built
 *            separately; measured once per run and shown in each hub's table)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { naiveCopy } from '../baselines.ts';
import { itemRows, type ItemRow } from '../data.ts';
import { serverDatabase, sqliteDatabase, tempDir } from '../databases.ts';
import { withScope } from '../scope.ts';
import type { Sample } from '../stats.ts';
import { pushThenPull } from './sync-rows.ts';
import { count, HUB_NAMES, missingRow, speedRow, type FigureContext, type FigureRow } from './figure.ts';
import type { PairFigure } from './pair.ts';

const SEED = 7;

export const versus: PairFigure = {
  names: ['versus', 'naive', 'pouchdb'],
  label: (ctx) => `${HUB_NAMES[ctx.hub]} hub · ${count(ctx.sizes.smallRows)} rows: Outpost, the naive loop, PouchDB`,

  async measure(ctx, { cluster, pusher, puller }, run) {
    const n = ctx.sizes.smallRows;
    const rows = [...itemRows(n, run * n, SEED)];
    const ids = rows.map((r) => r.id as string);
    const outpost = await pushThenPull(ctx.progress, pusher, puller, rows);
    const sample: Sample = { push: outpost.push, pull: outpost.pull };
    if (ctx.wants('naive')) {
      await withScope(async (scope) => {
        const onProgress = (done: number): void => ctx.progress.detail(done, n, 'rows, naive loop');
        sample.naivePush = await naiveCopy(pusher.db, await serverDatabase(scope, ctx.hub, { schema: true }), ids, onProgress);
        sample.naivePull = await naiveCopy(cluster.hubDb, sqliteDatabase(join(cluster.dir, `naive-${run}.db`)), ids, onProgress);
      });
    }
    const pouch = ctx.wants('pouchdb') ? await pouchRun(run, rows, ctx) : null;
    if (pouch) Object.assign(sample, { pouchPush: pouch.pushSeconds, pouchPull: pouch.pullSeconds });
    return sample;
  },

  report(m, ctx) {
    const n = ctx.sizes.smallRows;
    const rows: FigureRow[] = [];
    if (m.naivePush !== undefined) {
      rows.push(speedRow(`versus naive, push: ${count(n)} rows, SQLite node → hub`, n, m.push!, { name: 'per-row SELECT + upsert', seconds: m.naivePush }, 10));
      rows.push(speedRow(`versus naive, pull: ${count(n)} rows, hub → SQLite node`, n, m.pull!, { name: 'per-row SELECT + upsert', seconds: m.naivePull! }, 10));
    }
    if (ctx.wants('pouchdb')) {
      if (m.pouchPush === undefined) rows.push(missingRow('versus PouchDB', POUCHDB_MISSING));
      else {
        rows.push(speedRow(`versus PouchDB, push: ${count(n)} rows`, n, m.push!, { name: 'PouchDB', seconds: m.pouchPush }, 10));
        rows.push(speedRow(`versus PouchDB, pull: ${count(n)} rows`, n, m.pull!, { name: 'PouchDB', seconds: m.pouchPull! }, 25));
      }
    }
    return rows;
  },

  notes: (ctx) => [
    `Versus naive and PouchDB: ${count(ctx.sizes.smallRows)} rows (a smaller N), with Outpost's push and pull of the same rows measured in the same runs, on the nodes of the push and pull figures, first in each run (into the run's fresh hub database, as the naive loop writes into a fresh database). ` +
      "The naive loop selects each row on the source and upserts it on the other side, one round trip and one commit each: node file → a fresh database of the hub's schema, hub database → a fresh SQLite file. " +
      "PouchDB (bench/peers/pouchdb.ts: PouchDB replicating to and from an express-pouchdb server on 127.0.0.1) is measured once per run on the same rows and shown in both hubs' tables.",
  ],
};

// ---------------------------------------------------------------- PouchDB hook

/**
 * bench/peers/pouchdb.ts, built separately, exports
 * `measurePouchDB(rows, dir, onProgress?) => Promise<{ pushSeconds, pullSeconds }>`.
 * Without it, the PouchDB figure is skipped with a note.
 */
type MeasurePouchDB = (rows: readonly ItemRow[], dir: string, onProgress?: (done: number, total: number) => void) => Promise<{ pushSeconds: number; pullSeconds: number }>;
type PouchSeconds = { pushSeconds: number; pullSeconds: number } | null;

const POUCHDB_PEER = new URL('../peers/pouchdb.ts', import.meta.url);
const POUCHDB_MISSING = 'PouchDB comparison: bench/peers/pouchdb.ts missing';
/** One PouchDB measurement per run (the same rows on both hubs), shared by both hubs' tables: the hub plays no part in it. */
const pouchRuns = new Map<string, Promise<PouchSeconds>>();

function pouchRun(run: number, rows: ItemRow[], ctx: FigureContext): Promise<PouchSeconds> {
  const key = `${run}/${rows.length}`;
  let measured = pouchRuns.get(key);
  if (!measured) pouchRuns.set(key, (measured = measurePouchRun(run, rows, ctx)));
  return measured;
}

async function measurePouchRun(run: number, rows: ItemRow[], ctx: FigureContext): Promise<PouchSeconds> {
  if (!existsSync(POUCHDB_PEER)) {
    if (run === 0) ctx.progress.note(POUCHDB_MISSING);
    return null;
  }
  const { measurePouchDB } = (await import(POUCHDB_PEER.href)) as { measurePouchDB: MeasurePouchDB };
  return withScope((scope) => measurePouchDB(rows, tempDir(scope), (done, total) => ctx.progress.detail(done, total, 'documents, PouchDB push then pull')));
}
