import type { RowMeta } from './row-meta.ts';

/** The row stamps after a locally captured operation stamped `hlc`. */
export function stampMeta(meta: RowMeta | undefined, op: 'I' | 'U' | 'D', cols: readonly string[] | null, hlc: string): RowMeta {
  if (op === 'I') return { exists: true, hlc, colHlc: {} };
  if (op === 'D') return { exists: false, hlc, colHlc: {} };
  if (!meta || !meta.exists) return { exists: true, hlc, colHlc: {} };
  const colHlc = { ...meta.colHlc };
  for (const c of cols ?? []) colHlc[c] = hlc;
  return { exists: true, hlc: meta.hlc, colHlc };
}
