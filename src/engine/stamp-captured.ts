import { formatHlc, pkKey, type HlcClock, type TableSchema, type WireValue } from '../protocol/index.ts';
import { stampMeta } from './stamp.ts';
import type { RowMeta } from './row-meta.ts';
import type { CaptureRow, CaptureStamp, CaptureTx } from './replica-tx.ts';
import { readMetas } from './read-metas.ts';
import { WriteBatch } from './write-batch.ts';

const STAMP_SEQ_KEY = 'capture_seq';

export interface StampedRow {
  row: CaptureRow;
  table: TableSchema;
  pk: WireValue[];
  key: string;
  hlc: string;
  meta: RowMeta;
}

/**
 * Give every captured row that has no stamp yet an HLC stamp, in capture
 * order, and fold it into the row's stamps. The stamp's physical part is when
 * the trigger fired (shifted by `skewMs`, the replica's clock error, which
 * tests inject); the clock keeps it above every stamp already seen.
 */
export async function stampCaptured(
  tx: CaptureTx,
  clock: HlcClock,
  catalogue: ReadonlyMap<string, TableSchema>,
  skewMs: number,
  /** called with each page of stamped rows of synced tables, in capture order, after their stamps are written */
  eachPage?: (rows: StampedRow[]) => Promise<void>,
): Promise<number> {
  let n = 0;
  // Stamp order numbers continue from the last one ever given, even after
  // the stamped rows themselves were deleted (read once there is a row to stamp).
  let seq: number | null = null;
  // Pages continue after the last id stamped (rows of app transactions that
  // commit later with lower ids are stamped by the next call, from the start).
  let afterId = 0;
  for (;;) {
    const rows = await tx.readCapture({ unstamped: true, afterId, limit: PAGE });
    if (rows.length === 0) {
      if (n > 0) await tx.setState(STAMP_SEQ_KEY, String(seq));
      return n;
    }
    seq ??= Number((await tx.getState(STAMP_SEQ_KEY)) ?? 0);
    const stamps: CaptureStamp[] = [];
    const synced: { row: CaptureRow; table: TableSchema; pk: WireValue[]; hlc: string }[] = [];
    for (const row of rows) {
      // ts 0 marks a row recorded as initial state when a node joined: it
      // sorts below every real stamp, so a version the hub already has wins.
      const hlc = row.ts === 0 ? formatHlc({ wall: 0, counter: row.id % 0x100000000, node: clock.node }) : clock.tick(row.ts + skewMs);
      stamps.push({ id: row.id, hlc, seq: ++seq! });
      const table = catalogue.get(row.table);
      // a table no longer synced: stamped, and ignored
      if (table) synced.push({ row, table, pk: JSON.parse(row.pk) as WireValue[], hlc });
    }
    n += rows.length;
    afterId = rows[rows.length - 1]!.id;
    await tx.setCaptureStamps(stamps);
    const metas = await readMetas(tx, synced.map((s) => ({ table: s.table.name, pk: s.pk })));
    const batch = new WriteBatch(tx);
    const out: StampedRow[] = synced.map((s) => {
      const key = pkKey(s.pk);
      const byKey = metas.get(s.table.name)!;
      const meta = stampMeta(byKey.get(key), s.row.op, s.row.cols, s.hlc);
      byKey.set(key, meta);
      batch.putMeta(s.table.name, key, meta);
      return { ...s, key, meta };
    });
    await batch.flush();
    if (eachPage && out.length) await eachPage(out);
  }
}

/** Captured rows stamped per round trip. */
const PAGE = 1000;
