/**
 * Figures 5 and 6, bytes on the wire. Two SQLite nodes join through a
 * counting TCP proxy (so the hub URL they keep is the proxy's), and every
 * byte of a sync is counted both ways: HTTP, handshake, gzip bodies.
 *
 *   wire-rows    the app inserts N rows on one node: bytes of its sync (the
 *                push) and of the other node's (the pull), against gzip -1 of
 *                the same rows as NDJSON (JSON.stringify(row) per line)
 *   wire-update  the app then sets `quantity` on 1,000 of those rows: bytes
 *                of that sync ÷ 1,000, against gzip -1 of NDJSON {id, quantity}
 */
import { gzipSync } from 'node:zlib';
import { startCluster } from '../cluster.ts';
import { itemRows, type ItemRow } from '../data.ts';
import { updateQuantities } from '../items-sql.ts';
import { bytesBetween, countingProxy } from '../proxy.ts';
import type { Node } from '../cluster.ts';
import type { CountingProxy } from '../proxy.ts';
import { withScope } from '../scope.ts';
import type { Sample } from '../stats.ts';
import { asApp, expect, pushThenPull } from './sync-rows.ts';
import { costRow, count, formatNumber, HUB_NAMES, limitRow, type FigureGroup, type FigureRow } from './figure.ts';

const SEED = 5;
const UPDATES = 1000;
const MAX_BYTES_PER_CHANGE = 64;

export const wire: FigureGroup = {
  names: ['wire', 'wire-rows', 'wire-update'],
  steps: (repeat) => repeat,

  measure: (ctx) =>
    withScope(async (scope) => {
      const n = ctx.sizes.smallRows;
      const cluster = await startCluster(scope, ctx.hub);
      const proxy = await countingProxy(cluster.hub.url);
      scope.defer(() => proxy.close());
      const [pusher, puller] = await Promise.all([cluster.join('pusher', { hubUrl: proxy.url }), cluster.join('puller', { hubUrl: proxy.url })]);
      const samples: Sample[] = [];
      for (let run = 0; run < ctx.repeat; run++) {
        ctx.progress.step(`${HUB_NAMES[ctx.hub]} hub · bytes on the wire, ${count(n)} rows and ${count(UPDATES)} updates · run ${run + 1}/${ctx.repeat}`);
        const rows = [...itemRows(n, run * n, SEED)];
        const rowBytes = await rowsOnTheWire(proxy, pusher, puller, rows);
        const updateBytes = await updatesOnTheWire(proxy, pusher, rows.slice(0, UPDATES));
        // the other node takes the updates too, so that its next pull holds only the next run's rows
        expect(await puller.sync(), 'pulled', UPDATES);
        samples.push({
          push: rowBytes.push,
          pull: rowBytes.pull,
          rowsBaseline: gzipNdjson(rows),
          perUpdate: updateBytes / UPDATES,
          perUpdateBaseline: gzipNdjson(rows.slice(0, UPDATES).map((r, i) => ({ id: r.id, quantity: newQuantity(i) }))) / UPDATES,
        });
      }
      return samples;
    }),

  report: (m, ctx) => {
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

  notes: () => [
    'Bytes on the wire: every byte between node and hub, both directions, counted by a TCP proxy (HTTP headers, handshake, compressed bodies) over the whole `outpost sync`. ' +
      `The per-update figure is that sync's bytes ÷ ${count(UPDATES)}, for ${count(UPDATES)} rows whose quantity the app changed in one transaction.`,
  ],
};

/** The bytes of the pushing sync and of the pulling one, for `rows` the app inserted on `pusher`. */
async function rowsOnTheWire(proxy: CountingProxy, pusher: Node, puller: Node, rows: ItemRow[]): Promise<{ push: number; pull: number }> {
  const start = proxy.counts();
  let between = start;
  await pushThenPull(pusher, puller, rows, () => (between = proxy.counts()));
  return { push: bytesBetween(start, between), pull: bytesBetween(between, proxy.counts()) };
}

/** The bytes of the sync that pushes one changed column of each of `rows`. */
async function updatesOnTheWire(proxy: CountingProxy, pusher: Node, rows: ItemRow[]): Promise<number> {
  await asApp(pusher.db, (app) => updateQuantities(app, rows.map((r) => r.id as string), rows.length, newQuantity));
  const before = proxy.counts();
  expect(await pusher.sync(), 'pushed', rows.length);
  return bytesBetween(before, proxy.counts());
}

/** A quantity no generated row has (they are below 500), so that every UPDATE changes the column. */
const newQuantity = (i: number): number => 1000 + i;

function gzipNdjson(values: object[]): number {
  return gzipSync(values.map((v) => JSON.stringify(v)).join('\n') + '\n', { level: 1 }).length;
}
