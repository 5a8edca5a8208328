import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalRows, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import type { RowValues } from '../../src/engine/index.ts';

/** Inventory rows for matrix scenarios: keys, inserts, syncs and the convergence check. */
export const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

export async function insertItem(lab: Pick<MatrixLab, 'app'>, n: number, labId: string, extra: Record<string, unknown> = {}): Promise<void> {
  const row: Record<string, unknown> = { id: ID(n), lab_id: labId, name: `item ${n}`, quantity: n, unit_price: `${n}.25`, ...extra };
  const cols = Object.keys(row);
  await lab.app.run(`INSERT INTO items (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map((c) => row[c]));
}

export async function syncAll(labs: MatrixLab[], rounds = 2): Promise<void> {
  for (let r = 0; r < rounds; r++) for (const l of labs) await l.agent.sync();
}

export async function assertConverged(hub: MatrixHub, labs: MatrixLab[], tables = ['items', 'labs', 'categories']): Promise<void> {
  for (const table of tables) {
    const want: RowValues[] = await canonicalRows(hub.db, table);
    for (const l of labs) assert.deepEqual(await canonicalRows(l.db, table), want, `${l.name} (${l.db.dialect}) differs from the hub (${hub.db.dialect}) in ${table}`);
  }
}

/** One item's row on a replica (undefined: none). */
export async function itemOn(db: MatrixHub['db'], n: number): Promise<RowValues | undefined> {
  return (await canonicalRows(db, 'items')).find((r) => r.id === ID(n));
}

/** Writes a few milliseconds apart get stamps in that order, whatever node makes them. */
export const tick = (): Promise<void> => sleep(5);
