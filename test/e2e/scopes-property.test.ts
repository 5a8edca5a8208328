import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { addNode, setNodeAttrs } from '../../src/hub/enrollment.ts';
import { loadHubConfig } from '../../src/hub/config.ts';
import { hubApp, queryAll, startHub, tempDir, ROOT } from '../helpers/fixtures.ts';

const SCOPED = loadHubConfig(join(ROOT, 'examples/oims/outpost.scoped.config.json'));
const LABS = ['lab-a', 'lab-b', 'lab-c'] as const;

/** A step: the website or a lab writes (any lab's rows: a lab's writes outside its scope are refused), a lab syncs, or a lab changes hands. */
type Step =
  | { kind: 'insert'; at: number; lab: number }
  | { kind: 'move'; at: number; pick: number; lab: number }
  | { kind: 'edit'; at: number; pick: number; qty: number }
  | { kind: 'delete'; at: number; pick: number }
  | { kind: 'sync'; node: number }
  | { kind: 'attrs'; node: number; lab: number };

const at = fc.integer({ min: 0, max: 2 });
const lab = fc.integer({ min: 0, max: 2 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), at, lab }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('move' as const), at, pick: fc.nat(), lab }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('edit' as const), at, pick: fc.nat(), qty: fc.nat(99) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at, pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sync' as const), node: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('attrs' as const), node: fc.integer({ min: 1, max: 2 }), lab }) },
);

test('property: website and labs insert, edit, move and delete rows across labs, labs change hands, random syncs: each lab ends with exactly the hub\'s rows of its lab, and every change the hub took from a lab was inside its scope', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 30 }), async (steps) => {
      const fns: (() => unknown)[] = [];
      const t = { after: (fn: () => unknown) => void fns.push(fn) };
      try {
        const dir = tempDir(t);
        const hub = await startHub(dir, { config: { ...SCOPED, limits: { bodyBytes: 16 * 1024 * 1024, pullPage: 3 } } });
        fns.push(() => hub.close());
        const web = hubApp(hub);
        fns.push(() => web.close());
        const labOf = ['lab-a', 'lab-b'];
        const nodes: { agent: NodeAgent; app: Database.Database; path: string }[] = [];
        const nodeIds: string[] = [];
        for (const [i, name] of ['n1', 'n2'].entries()) {
          const { code } = await addNode(hub.hub.db, name, Date.now(), { attrs: { lab_id: labOf[i]! } });
          const path = join(dir, `${name}.db`);
          const db = new SqliteAdapter(path);
          const { agent } = await NodeAgent.join(db, hub.url, code);
          nodeIds.push((await db.read((tx) => tx.getState('node_id')))!);
          const app = new Database(path);
          fns.push(() => app.close(), () => db.close());
          nodes.push({ agent, app, path });
        }
        const replicas = [web, ...nodes.map((n) => n.app)];
        // Each node's lab over time: from which log seq on (a change is judged by the scope the node has when the hub receives it).
        const history: { node: string; from: number; lab: string }[] = [{ node: nodeIds[0]!, from: 0, lab: 'lab-a' }, { node: nodeIds[1]!, from: 0, lab: 'lab-b' }];
        const head = () => Number(queryAll<{ m: number | null }>(hub.dbPath, 'SELECT MAX(seq) AS m FROM _outpost_log')[0]!.m ?? 0);
        let n = run++ * 1000;
        for (const s of steps) {
          if (s.kind === 'sync') {
            await nodes[s.node - 1]!.agent.sync();
            continue;
          }
          if (s.kind === 'attrs') {
            labOf[s.node - 1] = LABS[s.lab]!;
            history.push({ node: nodeIds[s.node - 1]!, from: head(), lab: LABS[s.lab]! });
            await setNodeAttrs(hub.hub.db, `n${s.node}`, { lab_id: LABS[s.lab]! });
            continue;
          }
          const db = replicas[s.at]!;
                    const ids = (db.prepare('SELECT id FROM items ORDER BY id').all() as { id: string }[]).map((r) => r.id);
          const id = ids.length ? ids[('pick' in s ? s.pick : 0) % ids.length]! : null;
          if (s.kind === 'insert') {
            const row = `r-${n++}`;
            db.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, ?, 'item', 1)").run(row, LABS[s.lab]);
          } else if (s.kind === 'move' && id) {
            const marker = `moved ${n++}`;
            db.prepare('UPDATE items SET lab_id = ?, notes = ? WHERE id = ?').run(LABS[s.lab], marker, id);
          } else if (s.kind === 'edit' && id) {
            db.prepare('UPDATE items SET quantity = ? WHERE id = ?').run(s.qty, id);
          } else if (s.kind === 'delete' && id) {
            db.prepare('DELETE FROM items WHERE id = ?').run(id);
          }
        }
        // Quiesce: two rounds of syncs (a refused change comes back as the hub's state at the next pull).
        for (let round = 0; round < 3; round++) for (const node of nodes) await node.agent.sync();
        const hubRows = queryAll<Record<string, unknown>>(hub.dbPath, 'SELECT id, lab_id, name, quantity, notes FROM items ORDER BY id');
        nodes.forEach((node, i) => {
          const mine = queryAll<Record<string, unknown>>(node.path, 'SELECT id, lab_id, name, quantity, notes FROM items ORDER BY id');
          assert.deepEqual(mine, hubRows.filter((r) => r.lab_id === labOf[i]), `n${i + 1} (${labOf[i]}) holds exactly the hub's rows of its lab`);
        });
        // Every change the hub took from a lab was inside that lab's scope before and after (the log's scope marks say).
        const log = queryAll<{ seq: number; cols: string | null; origin: string }>(hub.dbPath, "SELECT seq, cols, origin FROM _outpost_log WHERE tbl = 'items' AND origin IS NOT NULL ORDER BY seq");
        for (const e of log) {
          const scope = (JSON.parse(e.cols ?? '{}') as { $scope?: { b?: { lab_id: string }; a?: { lab_id: string } } }).$scope;
          const labThen = history.filter((h) => h.node === e.origin && h.from < e.seq).at(-1)!.lab;
          for (const side of [scope?.b, scope?.a]) if (side) assert.equal(side.lab_id, labThen, `log entry ${e.seq} from ${e.origin} is outside its scope (${labThen})`);
        }
        assert.ok(log.length === 0 || log.some((e) => e.cols?.includes('$scope')), 'entries carry scope marks');
      } finally {
        for (const fn of fns.reverse()) await fn();
      }
    }),
    { numRuns: Number(process.env.OUTPOST_SCOPE_PROPERTY_RUNS ?? 25), ...(process.env.OUTPOST_SCOPE_PROPERTY_SEED ? { seed: Number(process.env.OUTPOST_SCOPE_PROPERTY_SEED) } : {}) },
  );
});
