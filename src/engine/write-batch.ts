import { pkKey, type TableSchema, type WireValue } from '../protocol/index.ts';
import type { RowMeta } from './row-meta.ts';
import type { ReplicaTx, RowValues } from './replica-tx.ts';

interface Run {
  kind: 'upsert' | 'delete';
  table: TableSchema;
  /** the column names of an upsert run (every row of a multi-row INSERT has the same) */
  shape: string;
  rows: RowValues[];
  pks: WireValue[][];
  keys: Set<string>;
}

/**
 * Row writes gathered into multi-row statements. Consecutive upserts (or
 * deletes) of one table with the same columns form a run, written as one
 * statement when something else comes, so the order the writes were asked
 * in (parents before children) is the order they reach the database. Stamps
 * are written at `flush`, one statement per table, the last one per row.
 */
export class WriteBatch {
  readonly #tx: ReplicaTx;
  #run: Run | null = null;
  readonly #metas = new Map<string, Map<string, RowMeta>>();

  constructor(tx: ReplicaTx) {
    this.#tx = tx;
  }

  async upsert(table: TableSchema, values: RowValues): Promise<void> {
    await this.#add('upsert', table, Object.keys(values).join('\u0000'), values, table.primaryKey.map((k) => values[k] ?? null));
  }

  async delete(table: TableSchema, pk: WireValue[]): Promise<void> {
    await this.#add('delete', table, '', null, pk);
  }

  async update(table: TableSchema, pk: readonly WireValue[], values: RowValues): Promise<void> {
    await this.#flushRun();
    await this.#tx.updateRow(table, pk, values);
  }

  putMeta(table: string, key: string, meta: RowMeta): void {
    let m = this.#metas.get(table);
    if (!m) this.#metas.set(table, (m = new Map()));
    m.set(key, meta);
  }

  /** Write everything gathered. */
  async flush(): Promise<void> {
    await this.#flushRun();
    for (const [table, metas] of this.#metas) await this.#tx.putMetas(table, [...metas]);
    this.#metas.clear();
  }

  async #add(kind: Run['kind'], table: TableSchema, shape: string, values: RowValues | null, pk: WireValue[]): Promise<void> {
    const key = pkKey(pk);
    const run = this.#run;
    // A key already in the run is written first: one statement never touches a row twice.
    if (!run || run.kind !== kind || run.table !== table || run.shape !== shape || run.keys.has(key)) {
      await this.#flushRun();
      this.#run = { kind, table, shape, rows: [], pks: [], keys: new Set() };
    }
    const r = this.#run!;
    r.keys.add(key);
    if (values) r.rows.push(values);
    else r.pks.push(pk);
  }

  async #flushRun(): Promise<void> {
    const run = this.#run;
    this.#run = null;
    if (!run) return;
    if (run.kind === 'upsert') await this.#tx.upsertRows(run.table, run.rows);
    else await this.#tx.deleteRows(run.table, run.pks);
  }
}
