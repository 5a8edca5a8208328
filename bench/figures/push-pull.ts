/**
 * Figures 1 and 2, push and pull throughput: in each run the app inserts N
 * new rows on the pusher (better-sqlite3, one transaction), `outpost sync`
 * there pushes them and `outpost sync` on the puller pulls them (each figure
 * the durationMs the CLI reports).
 *
 * Baselines, on the same N rows and the same database server: raw 1,000-row
 * upserts into a fresh database with the OIMS schema, then the raw pipeline
 * (streaming SELECT + 1,000-row SQLite upserts) from it into a fresh SQLite
 * file.
 */
import { join } from 'node:path';
import { rawPipeline, rawUpsert } from '../baselines.ts';
import { itemRows } from '../data.ts';
import { serverDatabase, sqliteDatabase } from '../databases.ts';
import { withScope } from '../scope.ts';
import { pushThenPull } from './sync-rows.ts';
import { count, HUB_NAMES, speedRow, type FigureRow } from './figure.ts';
import type { PairFigure } from './pair.ts';

const SEED = 1;

export const pushPull: PairFigure = {
  names: ['push-pull', 'push', 'pull'],
  label: (ctx) => `${HUB_NAMES[ctx.hub]} hub · push and pull ${count(ctx.sizes.rows)} rows`,

  async measure(ctx, { cluster, pusher, puller }, run) {
    const n = ctx.sizes.rows;
    const rows = [...itemRows(n, run * n, SEED)];
    const outpost = await pushThenPull(ctx.progress, pusher, puller, rows);
    return withScope(async (scope) => {
      const db = await serverDatabase(scope, ctx.hub, { schema: true });
      const pushBaseline = await rawUpsert(db, rows, (done) => ctx.progress.detail(done, n, 'rows, raw upserts'));
      const pullBaseline = await rawPipeline(db, sqliteDatabase(join(cluster.dir, `raw-${run}.db`)), (done) => ctx.progress.detail(done, n, 'rows, raw pipeline'));
      return { push: outpost.push, pull: outpost.pull, pushBaseline, pullBaseline };
    });
  },

  report(m, ctx) {
    const n = ctx.sizes.rows;
    const rows: FigureRow[] = [];
    if (ctx.wants('push')) rows.push(speedRow(`push: ${count(n)} rows, SQLite node → hub`, n, m.push!, { name: 'raw 1,000-row upserts', seconds: m.pushBaseline! }, 0.7));
    if (ctx.wants('pull')) rows.push(speedRow(`pull: ${count(n)} rows, hub → SQLite node`, n, m.pull!, { name: 'raw SELECT stream + 1,000-row SQLite upserts', seconds: m.pullBaseline! }, 0.7));
    return rows;
  },

  notes: (ctx) => [
    `Push and pull: each run starts a hub on a fresh database and joins two fresh nodes (as each baseline writes into a fresh database); the app inserts ${count(ctx.sizes.rows)} rows on one, which pushes them, and the other pulls them, after the comparisons' ${count(ctx.sizes.smallRows)} rows of the same run. ` +
      "Baselines: raw 1,000-row upserts, each committed on its own, into a fresh database of the OIMS schema on the hub's server; then a streaming SELECT from it in key order " +
      '(mysql2 `.stream()`, or a PostgreSQL cursor fetching 1,000 rows at a time) into a fresh SQLite file with 1,000-row upserts, with the WAL and synchronous=FULL settings of Outpost\'s SQLite adapter.',
  ],
};
