/** The product runs several figures share: the app writes rows on a node, and nodes sync them. */
import { openAppDb, type AppDb } from '../app-db.ts';
import type { Node } from '../cluster.ts';
import type { ItemRow } from '../data.ts';
import { insertItems } from '../items-sql.ts';
import type { SyncResult } from '../processes.ts';
import type { Progress } from '../progress.ts';
import { count } from './figure.ts';

/** Run `write` on a connection of the app's own to `db` (a node's database), closed after. */
export async function asApp(db: string, write: (app: AppDb) => Promise<void>): Promise<void> {
  const app = await openAppDb(db);
  try {
    await write(app);
  } finally {
    await app.close();
  }
}

/**
 * The app inserts `rows` on `pusher` (one transaction), `outpost sync` there
 * pushes them and `outpost sync` on `puller` pulls them; the seconds each
 * sync took by its own report. `afterPush` runs between the two syncs.
 */
export async function pushThenPull(progress: Progress, pusher: Node, puller: Node, rows: ItemRow[], afterPush?: () => void): Promise<{ push: number; pull: number }> {
  progress.activity(`the app inserts ${count(rows.length)} rows on the pusher`);
  await asApp(pusher.db, (app) => insertItems(app, rows, rows.length));
  progress.activity('outpost sync: the push');
  const push = expect(await pusher.sync(), 'pushed', rows.length);
  afterPush?.();
  progress.activity('outpost sync: the pull');
  const pull = expect(await puller.sync(), 'pulled', rows.length);
  return { push: push.seconds, pull: pull.seconds };
}

/** A sync that moved other than the rows it should have would time something else: stop. */
export function expect(r: SyncResult, what: 'pushed' | 'pulled', rows: number): SyncResult {
  if (r[what] !== rows) throw new Error(`bench: the sync ${what} ${r[what]} changes, expected ${rows}`);
  return r;
}
