/**
 * Figure 4, the capture overhead on the app's own writes, per node dialect
 * (SQLite, MariaDB, PostgreSQL). Two databases with the OIMS schema: one
 * joined to the hub (`outpost join` installed its triggers), one left
 * alone. The same app writes go to both, one statement per row, in
 * transactions of 100: N INSERTs, then N one-column UPDATEs, then N
 * DELETEs. Ratio: time with triggers ÷ time without. Which database goes
 * first alternates from run to run. The hub only serves the joins, so the
 * figure is measured once, with the first hub of the run.
 */
import { openAppDb, type AppDb, type Dialect } from '../app-db.ts';
import { startCluster } from '../cluster.ts';
import { itemRows, type ItemRow } from '../data.ts';
import { oimsDatabase } from '../databases.ts';
import { deleteItems, insertItems, updateQuantities } from '../items-sql.ts';
import { withScope } from '../scope.ts';
import { seconds, type Sample } from '../stats.ts';
import { costRow, count, type FigureGroup } from './figure.ts';

const SEED = 4;
const WARM_UP_SEED = 40;
const WARM_UP_ROWS = 200;
const PER_TRANSACTION = 100;
const NODE_DIALECTS: Dialect[] = ['sqlite', 'mysql', 'postgres'];
const NODE_NAMES: Record<Dialect, string> = { sqlite: 'SQLite', mysql: 'MariaDB', postgres: 'PostgreSQL' };

export const capture: FigureGroup = {
  names: ['capture'],
  once: { title: 'Capture overhead on the node databases' },
  steps: (repeat) => repeat * NODE_DIALECTS.length,

  measure: (ctx) =>
    withScope(async (scope) => {
      const n = ctx.sizes.smallRows;
      const cluster = await startCluster(scope, ctx.hub);
      const databases = await Promise.all(
        NODE_DIALECTS.map(async (dialect) => {
          const node = await cluster.join(`capture-${dialect}`, { db: await oimsDatabase(scope, dialect, cluster.dir, `capture-${dialect}`) });
          return { dialect, withTriggers: node.db, without: await oimsDatabase(scope, dialect, cluster.dir, `plain-${dialect}`) };
        }),
      );
      // one untimed round on each first, so that neither pays for a cold connection or cache
      for (const db of databases) for (const url of [db.withTriggers, db.without]) await timedAppWrites(url, [...itemRows(WARM_UP_ROWS, 0, WARM_UP_SEED)], () => undefined);
      const samples: Sample[] = [];
      for (let run = 0; run < ctx.repeat; run++) {
        const sample: Sample = {};
        const rows = [...itemRows(n, run * n, SEED)];
        for (const db of databases) {
          ctx.progress.step(`capture overhead on a ${NODE_NAMES[db.dialect]} node, ${count(n)} rows · run ${run + 1}/${ctx.repeat}`);
          const order = run % 2 === 0 ? (['without', 'withTriggers'] as const) : (['withTriggers', 'without'] as const);
          for (const which of order) {
            sample[`${db.dialect}.${which}`] = await timedAppWrites(db[which], rows, (done) => ctx.progress.detail(done, 3 * n, 'statements'));
          }
        }
        samples.push(sample);
      }
      return samples;
    }),

  report: (m, ctx) =>
    NODE_DIALECTS.map((d) =>
      costRow(
        `capture overhead, ${NODE_NAMES[d]} node: ${count(ctx.sizes.smallRows)} INSERTs + UPDATEs + DELETEs`,
        { text: `${m[`${d}.withTriggers`]!.toFixed(2)} s with triggers`, value: m[`${d}.withTriggers`]! },
        { text: `no triggers: ${m[`${d}.without`]!.toFixed(2)} s`, value: m[`${d}.without`]! },
        1.3,
      ),
    ),

  notes: (ctx) => [
    `Capture overhead: ${count(ctx.sizes.smallRows)} rows (a smaller N than push and pull): one INSERT per row, then one single-column UPDATE (quantity) per row, then one DELETE per row, in transactions of ${PER_TRANSACTION} statements, ` +
      'on a node database joined to the hub (its triggers installed by `outpost join`) and on one of the same schema without triggers. The ratio is time with ÷ time without (lower is better).',
  ],
};

/** Seconds the app's writes take on `url` (its connection opened before the clock starts). */
async function timedAppWrites(url: string, rows: ItemRow[], onProgress: (done: number) => void): Promise<number> {
  const app = await openAppDb(url);
  try {
    return await seconds(() => appWrites(app, rows, onProgress));
  } finally {
    await app.close();
  }
}

/** Every row inserted, updated once (to a quantity it did not have), then deleted: the table ends as it began. */
async function appWrites(app: AppDb, rows: ItemRow[], onProgress: (done: number) => void): Promise<void> {
  const ids = rows.map((r) => r.id as string);
  await insertItems(app, rows, PER_TRANSACTION);
  onProgress(rows.length);
  await updateQuantities(app, ids, PER_TRANSACTION, (i) => 1000 + i);
  onProgress(2 * rows.length);
  await deleteItems(app, ids, PER_TRANSACTION);
  onProgress(3 * rows.length);
}
