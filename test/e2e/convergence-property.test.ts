import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type Database from 'better-sqlite3';
import { hubWithLabs, hubApp, rowsOf, type TestNode } from '../helpers/fixtures.ts';

/** One step of a random history: a write on a replica (0 = the website on the hub, 1..3 = labs), or a lab's sync. */
type Step =
  | { kind: 'insert'; at: number; lab: string; qty: number }
  | { kind: 'update'; at: number; pick: number; col: 'quantity' | 'notes' | 'status' | 'unit_price'; value: number }
  | { kind: 'delete'; at: number; pick: number }
  | { kind: 'reinsert'; at: number; pick: number }
  | { kind: 'sync'; node: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.integer({ min: 0, max: 3 }), lab: fc.constantFrom('lab-a', 'lab-b', 'lab-c'), qty: fc.nat(100) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('update' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat(), col: fc.constantFrom('quantity' as const, 'notes' as const, 'status' as const, 'unit_price' as const), value: fc.integer({ min: -5, max: 500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reinsert' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sync' as const), node: fc.integer({ min: 1, max: 3 }) }) },
);

/** `gone` collects keys deleted anywhere, so that a later step can create a row under a used key again. */
function write(db: Database.Database, s: Step, n: number, gone: string[]): void {
  const ids = (db.prepare('SELECT id FROM items ORDER BY id').all() as { id: string }[]).map((r) => r.id);
  if (s.kind === 'insert') {
    db.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (lower(hex(randomblob(4))) || '-0000-4000-8000-' || printf('%012d', ?), ?, 'item', ?)").run(n, s.lab, s.qty);
  } else if (s.kind === 'update' && ids.length) {
    const id = ids[s.pick % ids.length]!;
    const value = s.col === 'notes' ? `note ${s.value} ✓` : s.col === 'status' ? ['active', 'retired', 'lost', 'repair'][Math.abs(s.value) % 4] : s.col === 'unit_price' ? s.value / 4 : s.value;
    db.prepare(`UPDATE items SET ${s.col} = ? WHERE id = ?`).run(value, id);
  } else if (s.kind === 'delete' && ids.length) {
    const id = ids[s.pick % ids.length]!;
    db.prepare('DELETE FROM items WHERE id = ?').run(id);
    gone.push(id);
  } else if (s.kind === 'reinsert' && gone.length) {
    const id = gone[s.pick % gone.length]!;
    if (!ids.includes(id)) db.prepare("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'again', 1, 'back')").run(id);
  }
}

const DAY = 86_400_000;

test('property: random writes on three labs (clocks up to a day off) and the website, keys deleted and created again, small pull pages, random sync orders: all converge', async (t) => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), fc.array(fc.constantFrom(-DAY, 0, 0, DAY), { minLength: 3, maxLength: 3 }), fc.integer({ min: 1, max: 20 }), async (steps, skews, pullPage) => {
      const scope: { after: (fn: () => unknown) => void; fns: (() => unknown)[] } = { fns: [], after(fn) { this.fns.push(fn); } };
      try {
        const names = ['lab-a', 'lab-b', 'lab-c'];
        const { hub, labs } = await hubWithLabs(scope, names, {
          hub: { config: { maxClockAheadSeconds: 2 * 86_400, limits: { pullPage, bodyBytes: 16 * 1024 * 1024 } } },
          lab: (name) => ({ now: () => Date.now() + skews[names.indexOf(name)]! }),
        });
        const web = hubApp(hub);
        scope.after(() => web.close());
        const replicas: Database.Database[] = [web, ...labs.map((l: TestNode) => l.app)];
        let n = run * 1000;
        const gone: string[] = [];
        for (const s of steps) {
          if (s.kind === 'sync') await labs[s.node - 1]!.agent.sync();
          else write(replicas[s.at]!, s, n++, gone);
        }
        for (let round = 0; round < 2; round++) for (const l of labs) await l.agent.sync();
        const want = rowsOf(hub.dbPath, 'items');
        for (const l of labs) {
          assert.deepEqual(rowsOf(l.path, 'items'), want, `${l.path} differs from the hub`);
          assert.equal((await l.agent.status()).pending, 0);
        }
      } finally {
        for (const fn of scope.fns.reverse()) await fn();
        run++;
      }
    }),
    { numRuns: Number(process.env.OUTPOST_PROPERTY_RUNS ?? 60), endOnFailure: true },
  );
  t.diagnostic(`${run} random histories converged`);
});
