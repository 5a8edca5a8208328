import { formatHlc, pkKey, type HlcClock, type TableSchema, type WireValue } from '../protocol/index.ts';
import { stampMeta } from './stamp.ts';
import type { RowMeta } from './row-meta.ts';
import type { CaptureRow, CaptureTx } from './replica-tx.ts';

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
  each?: (s: StampedRow) => Promise<void>,
): Promise<number> {
  let n = 0;
  // Stamp order numbers continue from the last one ever given, even after
  // the stamped rows themselves were deleted.
  let seq = Number((await tx.getState(STAMP_SEQ_KEY)) ?? 0);
  for (;;) {
    const rows = await tx.readCapture({ unstamped: true, limit: 1000 });
    if (rows.length === 0) {
      if (n > 0) await tx.setState(STAMP_SEQ_KEY, String(seq));
      return n;
    }
    for (const row of rows) {
      // ts 0 marks a row recorded as initial state when a node joined: it
      // sorts below every real stamp, so a version the hub already has wins.
      const hlc = row.ts === 0 ? formatHlc({ wall: 0, counter: row.id % 0x100000000, node: clock.node }) : clock.tick(row.ts + skewMs);
      await tx.setCaptureStamp(row.id, hlc, ++seq);
      n++;
      const table = catalogue.get(row.table);
      if (!table) continue; // no longer synced: stamped, and ignored
      const pk = JSON.parse(row.pk) as WireValue[];
      const key = pkKey(pk);
      const before = (await tx.getMeta(table.name, [key])).get(key);
      const meta = stampMeta(before, row.op, row.cols, hlc);
      await tx.putMeta(table.name, key, meta);
      if (each) await each({ row, table, pk, key, hlc, meta });
    }
  }
}
