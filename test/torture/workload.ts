import type { AppDb } from '../helpers/replicas.ts';

/**
 * The application's writes in a torture run: what a lab app or the website
 * does to its own tables, in its own transactions. Plain data, so that a
 * seed gives the same writes again.
 */
export type ItemColumn = 'quantity' | 'notes' | 'status' | 'unit_price' | 'name';

export type WriteOp =
  | { op: 'insert'; children: number; qty: number; note: number }
  | { op: 'update'; pick: number; set: { col: ItemColumn; value: number }[] }
  | { op: 'delete'; pick: number }
  | { op: 'reinsert'; pick: number }
  | { op: 'move'; pick: number; value: number }
  /** the website renames a lab (a `down` table) */
  | { op: 'lab'; pick: number; value: number };

/** One committed write of one cell (or a whole row's delete), as the oracle checks it. */
export interface WriteRecord {
  step: number;
  /** order among all writes of the run (writes of one transaction share a step) */
  n: number;
  /** 0: the website; i: node i */
  at: number;
  table: string;
  /** the key as the log and conflict tables spell it: JSON of the key values */
  pk: string;
  /** null: the row was deleted */
  col: string | null;
  value: unknown;
  /** written behind Outpost's back (tampering): it replaces earlier writes here, and need not arrive anywhere */
  behind?: true;
}

/** The next write's place in the run's order. */
export function nextWriteNumber(): number {
  return writeCounter++;
}

let writeCounter = 0;
const LABS = ['lab-a', 'lab-b', 'lab-c'];
const STATUS = ['active', 'retired', 'lost', 'repair'];

export const itemId = (at: number, n: number): string => `00000000-0000-4000-8${String(at).padStart(3, '0')}-${String(n).padStart(12, '0')}`;

function columnValue(col: ItemColumn, v: number): string | number {
  switch (col) {
    case 'quantity': return v;
    case 'notes': return `note ${v} ✓ ${'x'.repeat(Math.abs(v) % 7)}`;
    case 'status': return STATUS[Math.abs(v) % STATUS.length]!;
    case 'unit_price': return (Math.abs(v) / 4).toFixed(2);
    case 'name': return `item ${v}`;
  }
}

/** What one replica's app knows of its own making: the rows it created, kept to delete and re-create them. */
export class ReplicaWorkload {
  readonly at: number;
  readonly #own: string[] = [];
  readonly #gone: string[] = [];
  readonly #children = new Map<string, string[]>();
  #n = 0;

  constructor(at: number) {
    this.at = at;
  }

  /**
   * Run `ops` as one transaction on the app's connection. Returns the cell
   * writes it committed; none if the database refused it (the app sees the
   * error, as it would without Outpost: a write that was never made).
   */
  async run(app: AppDb, ops: WriteOp[], step: number): Promise<WriteRecord[]> {
    // As an app would: a transaction chosen as a deadlock victim (the agent
    // locks the same rows) is run again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#run(app, ops, step);
      } catch (e) {
        if (attempt >= 5 || !/deadlock|could not serialize|database is locked|SQLITE_BUSY/i.test(String((e as Error).message))) throw e;
      }
    }
  }

  async #run(app: AppDb, ops: WriteOp[], step: number): Promise<WriteRecord[]> {
    const out: WriteRecord[] = [];
    const own = [...this.#own];
    const gone = [...this.#gone];
    const children = new Map([...this.#children].map(([k, v]) => [k, [...v]]));
    const n0 = this.#n;
    const rec = (table: string, id: string, cols: Record<string, unknown> | null): void => {
      const pk = JSON.stringify([id]);
      if (cols === null) out.push({ step, n: writeCounter++, at: this.at, table, pk, col: null, value: null });
      else for (const [col, value] of Object.entries(cols)) out.push({ step, n: writeCounter++, at: this.at, table, pk, col, value });
    };
    // SQLite apps take the write lock at once (HARD-PARTS §6): a read-then-write transaction could not wait for it.
    await app.exec(app.dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN');
    try {
      for (const o of ops) {
        if (o.op === 'insert' || (o.op === 'reinsert' && gone.length)) {
          const id = o.op === 'insert' ? itemId(this.at, ++this.#n) : gone.splice(o.pick % gone.length, 1)[0]!;
          const qty = o.op === 'insert' ? o.qty : 1;
          const cols = { id, lab_id: LABS[this.at % 3]!, name: `item ${this.at}/${this.#n}`, quantity: qty, notes: o.op === 'insert' ? columnValue('notes', o.note) : 'back again' };
          await app.run('INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, ?, ?, ?, ?)', cols.id, cols.lab_id, cols.name, cols.quantity, cols.notes);
          rec('items', id, cols);
          own.push(id);
          const kids: string[] = [];
          for (let c = 0; c < (o.op === 'insert' ? o.children : 0); c++) {
            const mid = `${id}/m${c}`;
            const m = { id: mid, item_id: id, lab_id: cols.lab_id, delta: c + 1, reason: 'delivery' };
            await app.run('INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES (?, ?, ?, ?, ?)', m.id, m.item_id, m.lab_id, m.delta, m.reason);
            rec('stock_movements', mid, m);
            kids.push(mid);
          }
          children.set(id, kids);
        } else if (o.op === 'update') {
          const ids = (await app.query<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => r.id);
          if (!ids.length) continue;
          const id = ids[o.pick % ids.length]!;
          const cols: Record<string, unknown> = {};
          const [now] = await app.query<Record<string, unknown>>(`SELECT ${o.set.map((s) => s.col).join(', ')} FROM items WHERE id = ?`, id);
          // A column set to the value it has is no change: nothing is captured, nothing to check.
          for (const s of o.set) if (!sameValue(now?.[s.col], columnValue(s.col, s.value))) cols[s.col] = columnValue(s.col, s.value);
          const names = Object.keys(cols);
          if (!names.length) continue;
          await app.run(`UPDATE items SET ${names.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`, ...names.map((c) => cols[c]), id);
          rec('items', id, cols);
        } else if (o.op === 'delete') {
          // Only the row's creator deletes it, children first: a delete
          // racing another replica's new child is a quarantine case (issue 6).
          const live = own.filter((id) => !gone.includes(id));
          if (!live.length) continue;
          const id = live[o.pick % live.length]!;
          const exists = await app.query('SELECT id FROM items WHERE id = ?', id);
          if (!exists.length) continue; // deleted elsewhere already
          for (const mid of children.get(id) ?? []) {
            await app.run('DELETE FROM stock_movements WHERE id = ?', mid);
            rec('stock_movements', mid, null);
          }
          children.set(id, []);
          await app.run('DELETE FROM items WHERE id = ?', id);
          rec('items', id, null);
          own.splice(own.indexOf(id), 1);
          gone.push(id);
        } else if (o.op === 'move') {
          const kids = [...children.values()].flat();
          if (!kids.length) continue;
          const mid = kids[o.pick % kids.length]!;
          const reason = `count ${o.value}`;
          const [now] = await app.query<{ reason: string }>('SELECT reason FROM stock_movements WHERE id = ?', mid);
          if (!now || now.reason === reason) continue;
          await app.run('UPDATE stock_movements SET reason = ? WHERE id = ?', reason, mid);
          rec('stock_movements', mid, { reason });
        } else if (o.op === 'lab' && this.at === 0) {
          const id = LABS[o.pick % LABS.length]!;
          const building = `building ${o.value}`;
          const [now] = await app.query<{ building: string | null }>('SELECT building FROM labs WHERE id = ?', id);
          if (now?.building === building) continue;
          await app.run('UPDATE labs SET building = ? WHERE id = ?', building, id);
          rec('labs', id, { building });
        }
      }
      await app.exec('COMMIT');
    } catch (e) {
      await app.exec('ROLLBACK').catch(() => undefined);
      this.#n = n0;
      if (isConstraintError(e) || isMissingTable(e)) return [];
      throw e;
    }
    this.#own.splice(0, this.#own.length, ...own);
    this.#gone.splice(0, this.#gone.length, ...gone);
    this.#children.clear();
    for (const [k, v] of children) this.#children.set(k, v);
    return out;
  }
}

/** The app's own write refused by its database (a key or foreign key it broke): not Outpost's business. */
function isConstraintError(e: unknown): boolean {
  const m = String((e as Error).message ?? e);
  return /constraint|duplicate|foreign key|unique/i.test(m);
}

/** Values as the app reads them back: numbers and decimal strings compare by value. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined) return b === null || b === undefined;
  if (typeof a === 'number' || typeof b === 'number' || /^-?\d+(\.\d+)?$/.test(String(a))) return Number(a) === Number(b);
  return String(a) === String(b);
}

/** A lab that joined but has not received its tables yet (its first snapshot failed): its app has nothing to write to. */
export function isMissingTable(e: unknown): boolean {
  return /no such table|doesn't exist|does not exist/i.test(String((e as Error).message ?? e));
}
