import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type AppDb, type DialectName } from '../helpers/replicas.ts';

/** One step of a random history: a write on a replica (0 = the website, 1..3 = labs), or a lab's sync. */
type Step =
  | { kind: 'insert'; at: number; qty: number }
  | { kind: 'update'; at: number; pick: number; col: 'quantity' | 'notes' | 'status' | 'unit_price'; value: number }
  | { kind: 'delete'; at: number; pick: number }
  | { kind: 'reinsert'; at: number; pick: number }
  | { kind: 'sync'; node: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.integer({ min: 0, max: 3 }), qty: fc.nat(100) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('update' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat(), col: fc.constantFrom('quantity' as const, 'notes' as const, 'status' as const, 'unit_price' as const), value: fc.integer({ min: -5, max: 500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reinsert' as const), at: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sync' as const), node: fc.integer({ min: 1, max: 3 }) }) },
);

const LABS = ['lab-a', 'lab-b', 'lab-c'];

async function write(db: AppDb, s: Step, n: number, gone: string[]): Promise<void> {
  const ids = (await db.query<{ id: string }>('SELECT id FROM items ORDER BY id')).map((r) => r.id);
  if (s.kind === 'insert') {
    await db.run('INSERT INTO items (id, lab_id, name, quantity) VALUES (?, ?, ?, ?)', `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, LABS[n % 3], 'item', s.qty);
  } else if (s.kind === 'update' && ids.length) {
    const id = ids[s.pick % ids.length]!;
    const value = s.col === 'notes' ? `note ${s.value} ✓` : s.col === 'status' ? ['active', 'retired', 'lost', 'repair'][Math.abs(s.value) % 4] : s.col === 'unit_price' ? (s.value / 4).toFixed(2) : s.value;
    await db.run(`UPDATE items SET ${s.col} = ? WHERE id = ?`, value, id);
  } else if (s.kind === 'delete' && ids.length) {
    const id = ids[s.pick % ids.length]!;
    await db.run('DELETE FROM items WHERE id = ?', id);
    gone.push(id);
  } else if (s.kind === 'reinsert' && gone.length) {
    const id = gone[s.pick % gone.length]!;
    if (!ids.includes(id)) await db.run("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'again', 1, 'back')", id);
  }
}

const DAY = 86_400_000;

/**
 * Random histories on a hub and three labs of mixed dialects (clocks up to a
 * day off, keys deleted and created again, small pull pages, random sync
 * orders) converge everywhere, with identical values. Runs:
 * OUTPOST_MATRIX_PROPERTY_RUNS (default 20 per pairing).
 */
export function matrixProperty(hubDialect: DialectName, labDialects: [DialectName, DialectName, DialectName]): void {
  test(`property: hub ${hubDialect} × labs ${labDialects.join(' + ')}: random histories converge with identical values`, async (t) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), fc.array(fc.constantFrom(-DAY, 0, 0, DAY), { minLength: 3, maxLength: 3 }), fc.integer({ min: 1, max: 20 }), async (steps, skews, pullPage) => {
        const scope: { after: (fn: () => unknown) => void; fns: (() => unknown)[] } = { fns: [], after(fn) { this.fns.push(fn); } };
        try {
          const dir = tempDir(scope);
          const hub = await startMatrixHub(scope, hubDialect, dir, { config: { maxClockAheadSeconds: 2 * 86_400, limits: { pullPage, bodyBytes: 16 * 1024 * 1024 } } });
          const labs = [];
          for (let i = 0; i < 3; i++) labs.push(await joinMatrixLab(scope, hub, labDialects[i]!, dir, LABS[i]!, { now: () => Date.now() + skews[i]! }));
          const replicas = [hub.web, ...labs.map((l) => l.app)];
          let n = run * 1000;
          const gone: string[] = [];
          for (const s of steps) {
            if (s.kind === 'sync') await labs[s.node - 1]!.agent.sync();
            else await write(replicas[s.at]!, s, n++, gone);
          }
          for (let round = 0; round < 2; round++) for (const l of labs) await l.agent.sync();
          const want = await canonicalRows(hub.db, 'items');
          for (const l of labs) {
            assert.deepEqual(await canonicalRows(l.db, 'items'), want, `${l.name} (${l.db.dialect}) differs from the hub (${hubDialect})`);
            assert.equal((await l.agent.status()).pending, 0);
          }
        } catch (e) {
          // fast-check reports the failing input; this says what went wrong with it.
          console.error(`run ${run} failed: ${(e as Error).message}`);
          throw e;
        } finally {
          for (const fn of scope.fns.reverse()) await fn();
          run++;
        }
      }),
      {
        numRuns: Number(process.env.OUTPOST_MATRIX_PROPERTY_RUNS ?? 20),
        endOnFailure: true,
        // A failing run prints its seed and path; these replay it.
        ...(process.env.OUTPOST_PROPERTY_SEED ? { seed: Number(process.env.OUTPOST_PROPERTY_SEED), path: process.env.OUTPOST_PROPERTY_PATH } : {}),
      },
    );
    t.diagnostic(`${run} random histories converged`);
  });
}
