/**
 * Figure 3, the initial snapshot. The hub database is loaded with S rows
 * (raw 1,000-row INSERTs, not timed) before the hub starts, as a website's
 * existing data; the hub's start-up (installing triggers, recording those
 * rows) is not part of the figure. In each run a fresh, empty SQLite node
 * runs `outpost join`, which takes the snapshot: its durationMs, the join
 * process's peak RSS (getrusage at exit) and the hub's peak RSS while it
 * served the join (VmHWM, reset before the join).
 *
 * Baseline: the raw pipeline (streaming SELECT + 1,000-row SQLite upserts)
 * from the same hub database into a fresh SQLite file.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AppDb } from '../app-db.ts';
import { rawPipeline } from '../baselines.ts';
import { startCluster } from '../cluster.ts';
import { itemRows } from '../data.ts';
import { sqliteDatabase } from '../databases.ts';
import { loadItems } from '../items-sql.ts';
import { withScope } from '../scope.ts';
import type { Sample } from '../stats.ts';
import { count, HUB_NAMES, limitRow, MiB, speedRow, type FigureGroup } from './figure.ts';

const SEED = 3;
const MAX_RSS_MIB = 256;

export const snapshot: FigureGroup = {
  names: ['snapshot'],
  steps: (repeat) => repeat + 1,

  measure: (ctx) =>
    withScope(async (scope) => {
      const n = ctx.sizes.snapshotRows;
      const hub = HUB_NAMES[ctx.hub];
      ctx.progress.step(`${hub} hub · load ${count(n)} rows into the hub database, start the hub`);
      const load = async (db: AppDb): Promise<void> => {
        await loadItems(db, itemRows(n, 0, SEED), (done) => ctx.progress.detail(done, n));
        ctx.progress.activity('outpost hub: starting (it records the rows already there)');
      };
      const cluster = await startCluster(scope, ctx.hub, { load });
      const samples: Sample[] = [];
      for (let run = 0; run < ctx.repeat; run++) {
        ctx.progress.step(`${hub} hub · snapshot of ${count(n)} rows into an empty node · run ${run + 1}/${ctx.repeat}`);
        cluster.hub.memory.reset();
        ctx.progress.activity('outpost join: the snapshot');
        const node = await cluster.join(`snapshot-${run}`);
        const hubRss = cluster.hub.memory.peakBytes();
        if (node.joined.snapshotRows < n) throw new Error(`bench: the snapshot held ${node.joined.snapshotRows} rows, expected at least ${n}`);
        const raw = join(cluster.dir, `raw-${run}.db`);
        const baseline = await rawPipeline(cluster.hubDb, sqliteDatabase(raw), (done) => ctx.progress.detail(done, n));
        // a million-row file each: keep the disk free
        for (const path of [node.db.slice('sqlite:'.length), raw]) for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
        samples.push({ snapshot: node.joined.seconds, baseline, nodeRss: node.joined.maxRssBytes, hubRss });
      }
      return samples;
    }),

  report: (m, ctx) => {
    const n = ctx.sizes.snapshotRows;
    return [
      speedRow(`initial snapshot: ${count(n)} rows into an empty SQLite node`, n, m.snapshot!, { name: 'raw SELECT stream + 1,000-row SQLite upserts', seconds: m.baseline! }, 0.7),
      limitRow('peak RSS of the hub during the snapshot', m.hubRss! / MiB, 'MiB', MAX_RSS_MIB),
      limitRow('peak RSS of the node (`outpost join`)', m.nodeRss! / MiB, 'MiB', MAX_RSS_MIB),
    ];
  },

  notes: () => [
    'Snapshot: the hub database is loaded with raw INSERTs before the hub starts; its start-up is not timed. Each run joins a fresh, empty SQLite node (`outpost join`, its durationMs: provisioning, snapshot and first pull). ' +
      "Peak RSS: the node's from getrusage at exit; the hub's from /proc VmHWM, reset (clear_refs) before each join and polled every 100 ms.",
  ],
};
