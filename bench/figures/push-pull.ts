/**
 * Figures 1 and 2, push and pull throughput. Two SQLite nodes join an empty
 * hub; in each run the app inserts N new rows on one (better-sqlite3, one
 * transaction), `outpost sync` there pushes them and `outpost sync` on the
 * other pulls them (each figure the durationMs the CLI reports).
 *
 * Baselines, on the same N rows and the same database server: raw 1,000-row
 * upserts into a fresh database with the OIMS schema, then the raw pipeline
 * (streaming SELECT + 1,000-row SQLite upserts) from it into a fresh SQLite
 * file.
 */
import { join } from 'node:path';
import { rawPipeline, rawUpsert } from '../baselines.ts';
import { startCluster } from '../cluster.ts';
import { itemRows } from '../data.ts';
import { serverDatabase, sqliteDatabase } from '../databases.ts';
import { withScope } from '../scope.ts';
import type { Sample } from '../stats.ts';
import { pushThenPull } from './sync-rows.ts';
import { count, HUB_NAMES, speedRow, type FigureContext, type FigureGroup } from './figure.ts';

const SEED = 1;

export const pushPull: FigureGroup = {
  names: ['push-pull', 'push', 'pull'],
  steps: (repeat) => repeat,

  measure: (ctx) =>
    withScope(async (scope) => {
      const n = ctx.sizes.rows;
      const cluster = await startCluster(scope, ctx.hub);
      const [pusher, puller] = await Promise.all([cluster.join('pusher'), cluster.join('puller')]);
      const samples: Sample[] = [];
      for (let run = 0; run < ctx.repeat; run++) {
        ctx.progress.step(`${HUB_NAMES[ctx.hub]} hub · push and pull ${count(n)} rows · run ${run + 1}/${ctx.repeat}`);
        const rows = [...itemRows(n, run * n, SEED)];
        const outpost = await pushThenPull(pusher, puller, rows);
        const baseline = await withScope(async (s) => {
          const db = await serverDatabase(s, ctx.hub, { schema: true });
          const upsert = await rawUpsert(db, rows, (done) => ctx.progress.detail(done, n));
          const pipeline = await rawPipeline(db, sqliteDatabase(join(cluster.dir, `raw-${run}.db`)), (done) => ctx.progress.detail(done, n));
          return { upsert, pipeline };
        });
        samples.push({ push: outpost.push, pull: outpost.pull, pushBaseline: baseline.upsert, pullBaseline: baseline.pipeline });
      }
      return samples;
    }),

  report: (m, ctx: FigureContext) => {
    const n = ctx.sizes.rows;
    return [
      ...(ctx.wants('push') ? [speedRow(`push: ${count(n)} rows, SQLite node → hub`, n, m.push!, { name: 'raw 1,000-row upserts', seconds: m.pushBaseline! }, 0.7)] : []),
      ...(ctx.wants('pull') ? [speedRow(`pull: ${count(n)} rows, hub → SQLite node`, n, m.pull!, { name: 'raw SELECT stream + 1,000-row SQLite upserts', seconds: m.pullBaseline! }, 0.7)] : []),
    ];
  },
};
