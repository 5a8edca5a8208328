import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type Database from 'better-sqlite3';
import { hubWithLabs, hubApp, queryAll, rowsOf } from '../helpers/fixtures.ts';

/**
 * Random concurrent histories on 3–5 labs and the website, synced in
 * random orders, under a random table policy (merge, lww, manual), clocks
 * up to a day off: every replica converges, and no write is lost silently —
 * every value a lab pushed is in the hub's log from that lab or in the
 * conflict log as lost, and every logged value that a later write
 * overwrote without having seen it (its writer's cursor was before it) is in
 * the conflict log as lost.
 */

const ROWS = 3;
const COLS = ['name', 'notes'] as const;
const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

type Step = { kind: 'write'; at: number; row: number; col: (typeof COLS)[number] } | { kind: 'sync'; lab: number };
const step = (labs: number): fc.Arbitrary<Step> => fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.integer({ min: 0, max: labs }), row: fc.integer({ min: 1, max: ROWS }), col: fc.constantFrom(...COLS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync' as const), lab: fc.integer({ min: 1, max: labs }) }) },
);
const DAY = 86_400_000;

interface Entry { seq: number; pk: string; op: string; hlc: string; cols: string | null; col_hlc: string | null; origin: string | null }
interface Lost { pk: string; col: string; lost: string; origin: string | null }

test('property: concurrent writes on 3–5 labs and the website under merge, lww and manual converge, and every overwritten concurrent write is in the conflict log', async (t) => {
  let runs = 0;
  let overwritten = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 3, max: 5 }).chain((n) => fc.record({
        labs: fc.constant(n),
        steps: fc.array(step(n), { minLength: 4, maxLength: 30 }),
        skews: fc.array(fc.constantFrom(-DAY, 0, 0, DAY), { minLength: n, maxLength: n }),
        policy: fc.constantFrom('merge' as const, 'lww' as const, 'manual' as const),
      })),
      async ({ labs: count, steps, skews, policy }) => {
        const scope: { after: (fn: () => unknown) => void; fns: (() => unknown)[] } = { fns: [], after(fn) { this.fns.push(fn); } };
        try {
          const names = Array.from({ length: count }, (_, i) => `lab-${i + 1}`);
          const { hub, labs } = await hubWithLabs(scope, names, {
            hub: { config: { maxClockAheadSeconds: 2 * 86_400, tables: { labs: { direction: 'down', policy: 'merge' }, categories: { direction: 'down', policy: 'merge' }, items: { direction: 'both', policy }, stock_movements: { direction: 'up', policy: 'merge' } } } },
            lab: (name) => ({ now: () => Date.now() + skews[names.indexOf(name)]! }),
          });
          const web = hubApp(hub);
          scope.after(() => web.close());
          for (let r = 1; r <= ROWS; r++) web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, 1)").run(ID(r), `start ${r}`);
          for (const l of labs) await l.agent.sync();
          const ids = await Promise.all(labs.map(async (l) => (await l.agent.status()).nodeId!));

          // What each lab pushed, and what it had seen when it did (its cursor).
          const pending: Map<string, string>[] = labs.map(() => new Map());
          const pushed: { origin: string; pk: string; col: string; value: string }[] = [];
          const knew = new Map<number, number>(); // log seq → the cursor of the push that wrote it
          const maxSeq = (): number => (queryAll<{ m: number | null }>(hub.dbPath, 'SELECT MAX(seq) AS m FROM _outpost_log')[0]!.m ?? 0);
          let k = 0;
          const writeOn = (db: Database.Database, s: Extract<Step, { kind: 'write' }>): string => {
            const value = `${s.col}-${runs}-${k++}`;
            db.prepare(`UPDATE items SET ${s.col} = ? WHERE id = ?`).run(value, ID(s.row));
            return value;
          };
          const sync = async (i: number): Promise<void> => {
            const cursor = (await labs[i]!.agent.status()).cursor;
            const before = maxSeq();
            for (const [cell, value] of pending[i]!) {
              const [pk, col] = cell.split('|') as [string, string];
              pushed.push({ origin: ids[i]!, pk, col, value });
            }
            pending[i]!.clear();
            await labs[i]!.agent.sync();
            for (let s = before + 1; s <= maxSeq(); s++) knew.set(s, cursor);
          };
          for (const s of steps) {
            if (s.kind === 'sync') await sync(s.lab - 1);
            else if (s.at === 0) writeOn(web, s);
            else pending[s.at - 1]!.set(`${JSON.stringify([ID(s.row)])}|${s.col}`, writeOn(labs[s.at - 1]!.app, s));
          }
          for (let round = 0; round < 2; round++) for (let i = 0; i < labs.length; i++) await sync(i);

          const want = rowsOf(hub.dbPath, 'items');
          for (const l of labs) assert.deepEqual(rowsOf(l.path, 'items'), want, `${l.path} differs from the hub`);

          const log = queryAll<Entry>(hub.dbPath, "SELECT seq, pk, op, hlc, cols, col_hlc, origin FROM _outpost_log WHERE tbl = 'items' ORDER BY seq");
          const lost = queryAll<Lost>(hub.dbPath, "SELECT pk, col, lost, origin FROM _outpost_conflicts WHERE tbl = 'items'");
          const isLost = (pk: string, col: string, value: unknown, origin: string | null): boolean =>
            lost.some((c) => c.pk === pk && c.col === col && c.lost === JSON.stringify(value) && c.origin === origin);
          // Every pushed value: in the log from its lab, or lost on the record.
          for (const p of pushed) {
            const logged = log.some((e) => e.origin === p.origin && e.pk === p.pk && e.cols !== null && (JSON.parse(e.cols) as Record<string, unknown>)[p.col] === p.value);
            assert.ok(logged || isLost(p.pk, p.col, p.value, p.origin), `${p.origin}'s ${p.col} = ${p.value} of ${p.pk} is neither logged nor in the conflict log`);
          }
          /** A cell's value after the log entry at or before `seq` that set it (restatements too: they are the hub's state). */
          const valueAt = (pk: string, col: string, seq: number): unknown => {
            let v: unknown;
            for (const e of log) {
              if (e.seq > seq) break;
              if (e.pk === pk && e.cols !== null) {
                const cols = JSON.parse(e.cols) as Record<string, unknown>;
                if (col in cols) v = cols[col];
              }
            }
            return v;
          };
          // Every logged value overwritten by a writer that had not seen it: lost on the record.
          for (const col of COLS) {
            for (let r = 1; r <= ROWS; r++) {
              const pk = JSON.stringify([ID(r)]);
              // Who wrote a logged value: the entry's origin, or — an lww entry carries every
              // column, changed or not — the node its stamp names (null: the hub).
              let last: { seq: number; value: unknown; origin: string | null; author: string | null } | null = null;
              for (const e of log) {
                if (e.pk !== pk || e.cols === null || e.op === 'R') continue;
                const cols = JSON.parse(e.cols) as Record<string, unknown>;
                if (!(col in cols) || (last && cols[col] === last.value)) continue;
                const seen = knew.get(e.seq) ?? Infinity;
                // Not an overwrite of what the writer had not seen if that value was the cell's at its cursor anyway.
                if (last && e.origin !== null && e.origin !== last.origin && seen < last.seq && valueAt(pk, col, seen) !== last.value) {
                  overwritten++;
                  assert.ok(isLost(pk, col, last.value, last.origin) || isLost(pk, col, last.value, last.author), `${col} = ${String(last.value)} of ${pk} (seq ${last.seq}, by ${last.origin ?? 'the hub'}) was overwritten at seq ${e.seq} by ${e.origin}, which had seen only up to ${knew.get(e.seq)}, and is not in the conflict log`);
                }
                const stamp = (e.col_hlc ? (JSON.parse(e.col_hlc) as Record<string, string>)[col] : undefined) ?? e.hlc;
                const node = stamp.split('-').slice(2).join('-');
                last = { seq: e.seq, value: cols[col], origin: e.origin, author: node === 'hub' ? null : node };
              }
            }
          }
        } catch (e) {
          process.stderr.write(`conflict-log property, run ${runs}: ${(e as Error).message}\n`);
          throw e;
        } finally {
          for (const fn of scope.fns.reverse()) await fn();
          runs++;
        }
      },
    ),
    {
      numRuns: Number(process.env.OUTPOST_CONFLICT_PROPERTY_RUNS ?? 30),
      endOnFailure: true,
      // Replay a failure: the seed and path fast-check printed.
      ...(process.env.OUTPOST_CONFLICT_PROPERTY_SEED ? { seed: Number(process.env.OUTPOST_CONFLICT_PROPERTY_SEED), path: process.env.OUTPOST_CONFLICT_PROPERTY_PATH } : {}),
    },
  );
  t.diagnostic(`${runs} random histories converged; ${overwritten} concurrent overwrites found in the conflict log`);
});
