/**
 * What a replica knows of one row's history: whether it exists, the stamp of
 * the insert or delete that decided that, and the stamps of columns written
 * since (a column with no entry carries the row stamp).
 */
export interface RowMeta {
  exists: boolean;
  hlc: string;
  colHlc: Record<string, string>;
}

export function columnStamp(meta: RowMeta, column: string): string {
  return meta.colHlc[column] ?? meta.hlc;
}

/** The newest stamp anywhere in the row. */
export function newestStamp(meta: RowMeta): string {
  let h = meta.hlc;
  for (const v of Object.values(meta.colHlc)) if (v > h) h = v;
  return h;
}
