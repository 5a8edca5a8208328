/**
 * Figures 5 and 6, bytes on the wire. The pair joined through a counting
 * TCP proxy (so the hub URL the nodes keep is the proxy's), and every byte
 * of a sync is counted both ways: HTTP, handshake, gzip bodies.
 *
 *   wire-rows    the app inserts N rows on the pusher: bytes of its sync (the
 *                push) and of the puller's (the pull), against gzip -1 of the
 *                same rows as NDJSON (JSON.stringify(row) per line)
 *   wire-update  the app then sets `quantity` on 1,000 of those rows: bytes
 *                of that sync ÷ 1,000 (gzip -1 of NDJSON {id, quantity} is
 *                shown for reference)
 */
import { gzipSync } from 'node:zlib';
import { itemRows, type ItemRow } from '../data.ts';
import { updateQuantities } from '../items-sql.ts';
import type { Progress } from '../progress.ts';
import { bytesBetween, type CountingProxy } from '../proxy.ts';
import { asApp, expect, pushThenPull } from './sync-rows.ts';
import { costRow, count, formatNumber, HUB_NAMES, limitRow, type FigureRow } from './figure.ts';
import type { Pair, PairFigure } from './pair.ts';

const SEED = 5;
const UPDATES = 1000;
const MAX_BYTES_PER_CHANGE = 64;

export const wire: PairFigure = {
  names: ['wire', 'wire-rows', 'wire-update'],
  label: (ctx) => `${HUB_NAMES[ctx.hub]} hub · bytes on the wire, ${count(ctx.sizes.smallRows)} rows and ${count(UPDATES)} updates`,

  async measure(ctx, pair, run) {
    const n = ctx.sizes.smallRows;
    const proxy = pair.proxy!;
    const rows = [...itemRows(n, run * n, SEED)];
    const start = proxy.counts();
    let between = start;
    await pushThenPull(ctx.progress, pair.pusher, pair.puller, rows, () => (between = proxy.counts()));
    const pulled = proxy.counts();
    const updated = rows.slice(0, UPDATES);
    return {
      push: bytesBetween(start, between),
      pull: bytesBetween(between, pulled),
      rowsBaseline: gzipNdjson(rows),
      perUpdate: (await updateBytes(ctx.progress, proxy, pair, updated)) / UPDATES,
      perUpdateBaseline: gzipNdjson(updated.map((r, i) => ({ id: r.id, quantity: newQuantity(i) }))) / UPDATES,
    };
  },

  report(m, ctx) {
    const n = ctx.sizes.smallRows;
    const bytes = (b: number): string => `${formatNumber(b / 1024)} KiB (${formatNumber(b / n)} B/row)`;
    const baseline = { text: `gzip -1 NDJSON: ${bytes(m.rowsBaseline!)}`, value: m.rowsBaseline! };
    const rows: FigureRow[] = [];
    if (ctx.wants('wire-rows')) {
      rows.push(costRow(`bytes on the wire, push of ${count(n)} full rows`, { text: bytes(m.push!), value: m.push! }, baseline, 1.1));
      rows.push(costRow(`bytes on the wire, pull of ${count(n)} full rows`, { text: bytes(m.pull!), value: m.pull! }, baseline, 1.1));
    }
    if (ctx.wants('wire-update')) {
      rows.push(limitRow(`bytes on the wire per one-column update (${count(UPDATES)} in one sync)`, m.perUpdate!, 'B/change', MAX_BYTES_PER_CHANGE, `gzip -1 NDJSON {id, quantity}: ${formatNumber(m.perUpdateBaseline!)} B/change`));
    }
    return rows;
  },

  notes: (ctx) => [
    `Bytes on the wire: ${count(ctx.sizes.smallRows)} rows (a smaller N); every byte between node and hub, both directions, counted by a TCP proxy (HTTP headers, handshake, compressed bodies) over the whole \`outpost sync\`. ` +
      `The per-update figure is that sync's bytes ÷ ${count(UPDATES)}, for ${count(UPDATES)} rows whose quantity the app changed in one transaction.`,
  ],
};

/** The app changes one column of each of `rows` on the pusher: the bytes of the sync that pushes them. */
async function updateBytes(progress: Progress, proxy: CountingProxy, { pusher, puller }: Pair, rows: ItemRow[]): Promise<number> {
  await asApp(pusher.db, (app) => updateQuantities(app, rows.map((r) => r.id as string), rows.length, newQuantity));
  progress.activity(`outpost sync: ${count(rows.length)} one-column updates`);
  const before = proxy.counts();
  expect(await pusher.sync(), 'pushed', rows.length);
  const bytes = bytesBetween(before, proxy.counts());
  // the puller takes the updates too, so that its next pull holds only the next run's rows
  expect(await puller.sync(), 'pulled', rows.length);
  return bytes;
}

/** A quantity no generated row has (they are below 500), so that every UPDATE changes the column. */
const newQuantity = (i: number): number => 1000 + i;

function gzipNdjson(values: object[]): number {
  return gzipSync(values.map((v) => JSON.stringify(v)).join('\n') + '\n', { level: 1 }).length;
}
