import type { RowMeta } from '../engine/index.ts';

/** A row of `_outpost_rows` as every dialect stores it: existence flag, row stamp, column stamps as JSON. */
export interface MetaRow {
  ex: number | string;
  hlc: string;
  col_hlc: string | null;
}

export function metaFromRow(r: MetaRow): RowMeta {
  return { exists: Number(r.ex) === 1, hlc: r.hlc, colHlc: r.col_hlc ? (JSON.parse(r.col_hlc) as RowMeta['colHlc']) : {} };
}

/** The values of (ex, hlc, col_hlc) for a row's stamps. */
export function metaToRow(m: RowMeta): [number, string, string | null] {
  return [m.exists ? 1 : 0, m.hlc, Object.keys(m.colHlc).length ? JSON.stringify(m.colHlc) : null];
}
