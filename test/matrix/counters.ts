import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type DialectName, type MatrixHub, type MatrixLab } from '../helpers/replicas.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import type { AgentOptions } from '../../src/node/agent.ts';
import { ID, assertConverged as assertSame, syncAll } from './items.ts';

/**
 * Counter columns end to end over real HTTP, for one pairing of hub dialect
 * and lab dialects: `items.quantity` is a counter, so concurrent changes add
 * up (issue 6: two labs each issuing 3 units from a stock of 10 leave 4).
 */
export function counterScenarios(hubDialect: DialectName, labDialects: [DialectName, DialectName]): void {
  const pairing = `hub ${hubDialect} × labs ${labDialects[0]}${labDialects[1] === labDialects[0] ? '' : ` + ${labDialects[1]}`}`;

  const setup = async (
    t: Parameters<typeof tempDir>[0],
    opts: { setup?: (app: FastifyInstance) => void; a?: AgentOptions } = {},
  ): Promise<{ hub: MatrixHub; a: MatrixLab; b: MatrixLab }> => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { setup: opts.setup, config: { tables: COUNTER_TABLES } });
    const a = await joinMatrixLab(t, hub, labDialects[0], dir, 'lab-a', opts.a);
    const b = await joinMatrixLab(t, hub, labDialects[1], dir, 'lab-b');
    return { hub, a, b };
  };
  const stock = async (hub: MatrixHub, labs: MatrixLab[], n: number, quantity: number): Promise<void> => {
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', ?, ?)", ID(n), `item ${n}`, quantity);
    await syncAll(labs);
  };

  test(`${pairing}: counters: two labs each take 3 from a stock of 10 and the website takes 1: everyone has 3; a stocktake to 40 reaches the labs as 40`, async (t) => {
    const { hub, a, b } = await setup(t);
    await stock(hub, [a, b], 1, 10);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[10], [10], [10]]);
    await a.app.run('UPDATE items SET quantity = quantity - 3 WHERE id = ?', ID(1));
    await b.app.run('UPDATE items SET quantity = quantity - 3 WHERE id = ?', ID(1));
    await hub.web.run('UPDATE items SET quantity = quantity - 1 WHERE id = ?', ID(1));
    await syncAll([a, b]);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[3], [3], [3]], 'every decrement counted once');
    await assertConverged(hub, [a, b]);
    assert.equal((await hub.hub.status()).conflicts, 0, 'concurrent counter changes are not conflicts');

    // A stocktake on the website: an absolute write, logged as the difference.
    await hub.web.run('UPDATE items SET quantity = 40 WHERE id = ?', ID(1));
    await a.app.run('UPDATE items SET quantity = quantity - 2 WHERE id = ?', ID(1));
    await syncAll([a, b]);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[38], [38], [38]]);
    const logged = await hub.web.query<{ cols: string | null }>("SELECT cols FROM _outpost_log WHERE tbl = 'items' AND origin IS NULL ORDER BY seq");
    const deltas = logged.map((r) => (r.cols ? (JSON.parse(r.cols) as { $deltas?: Record<string, number> }).$deltas : undefined)).filter(Boolean);
    assert.deepEqual(deltas, [{ quantity: -1 }, { quantity: 37 }], "the website's writes are logged as deltas (3 → 40 is +37)");
    for (const n of [a, b]) assert.equal((await n.agent.status()).pending, 0, 'nothing captured twice (echo suppression)');
  });

  test(`${pairing}: counters: a lab decrements and renames in one statement while another lab decrements and edits a note: both edits and both deltas survive`, async (t) => {
    const { hub, a, b } = await setup(t);
    await stock(hub, [a, b], 1, 10);
    await a.app.run("UPDATE items SET quantity = quantity - 2, name = 'renamed on A' WHERE id = ?", ID(1));
    await b.app.run("UPDATE items SET quantity = quantity - 1, notes = 'B' WHERE id = ?", ID(1));
    await a.app.run('UPDATE items SET quantity = quantity + 5 WHERE id = ?', ID(1));
    await syncAll([a, b]);
    await assertConverged(hub, [a, b]);
    const [row] = await canonicalRows(hub.db, 'items');
    assert.deepEqual([row!.quantity, row!.name, row!.notes], [12, 'renamed on A', 'B']);
  });

  test(`${pairing}: counters: a push whose reply is lost after the hub committed is not applied twice, in one page or several`, async (t) => {
    let drops = 0;
    const { hub, a, b } = await setup(t, {
      a: { pageSize: 1 }, // a group of two rows goes as two pages: staged, then committed as one
      setup: (app) =>
        app.addHook('onSend', async (req, reply, payload) => {
          if (req.url === '/v1/push' && reply.statusCode === 200 && drops > 0 && typeof payload === 'string' && payload.includes('"staged":false')) {
            drops--;
            req.raw.socket.destroy();
          }
          return payload;
        }),
    });
    await stock(hub, [a, b], 1, 10);
    await stock(hub, [a, b], 2, 10);
    // One row: one page.
    await a.app.run('UPDATE items SET quantity = quantity - 3 WHERE id = ?', ID(1));
    drops = 2; // the node sends a request once more when its connection dies before the reply
    await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
    assert.deepEqual(await quantities([hub.db]), [[7, 10]], 'the hub committed before the reply was lost');
    const again = await a.agent.sync();
    assert.equal(again.pushed, 0, 'the group is acknowledged by the handshake, not sent again');
    assert.deepEqual(await quantities([hub.db, a.db]), [[7, 10], [7, 10]]);
    // Two rows: two pages.
    await a.app.run('UPDATE items SET quantity = quantity - 1');
    drops = 2;
    await assert.rejects(a.agent.sync(), (e: OutpostError) => e.code === 'HUB_UNREACHABLE');
    assert.deepEqual(await quantities([hub.db]), [[6, 9]]);
    await syncAll([a, b]);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[6, 9], [6, 9], [6, 9]], 'applied exactly once');
    assert.equal(drops, 0, 'both replies were lost');
  });

  test(`${pairing}: counters: a delta on a row another lab deleted is recorded in the conflict log, not applied`, async (t) => {
    const { hub, a, b } = await setup(t);
    await stock(hub, [a, b], 1, 10);
    await a.app.run('DELETE FROM items WHERE id = ?', ID(1));
    await a.agent.sync();
    await b.app.run('UPDATE items SET quantity = quantity - 3 WHERE id = ?', ID(1));
    await syncAll([b, a]);
    await assertConverged(hub, [a, b]);
    assert.equal((await canonicalRows(hub.db, 'items')).length, 0, 'the row stays deleted everywhere');
    const conflicts = await hub.web.query<{ kind: string; col: string; lost: string; origin: string }>("SELECT kind, col, lost, origin FROM _outpost_conflicts WHERE tbl = 'items'");
    const node = (await b.agent.status()).nodeId;
    assert.deepEqual(conflicts.map((c) => [c.kind, c.col, JSON.parse(c.lost), c.origin]), [['update-deleted', 'quantity', { delta: -3 }, node]]);
  });

  test(`${pairing}: counters: a row created on a lab and changed before its first push goes as an insert with its value, later changes as deltas; a website insert and decrement sequenced together count once`, async (t) => {
    const { hub, a, b } = await setup(t);
    await a.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'new', 5)", ID(1));
    await a.app.run('UPDATE items SET quantity = quantity - 1 WHERE id = ?', ID(1));
    await syncAll([a, b]);
    await b.app.run('UPDATE items SET quantity = quantity - 2 WHERE id = ?', ID(1));
    await a.app.run('UPDATE items SET quantity = quantity - 2 WHERE id = ?', ID(1));
    await syncAll([a, b]);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[0], [0], [0]]);
    // The website inserts and takes 1 before the hub sequences either write:
    // the insert is logged with the value it inserted, the update as -1.
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'website', 10)", ID(2));
    await hub.web.run('UPDATE items SET quantity = quantity - 1 WHERE id = ?', ID(2));
    await syncAll([a, b]);
    assert.deepEqual(await quantities([hub.db, a.db, b.db]), [[0, 9], [0, 9], [0, 9]]);
    await assertConverged(hub, [a, b]);
  });
}

/** The OIMS tables with `items.quantity` a counter. */
const COUNTER_TABLES = {
  labs: { direction: 'down', policy: 'merge' },
  categories: { direction: 'down', policy: 'merge' },
  items: { direction: 'both', policy: 'merge', columns: { quantity: 'counter' } },
  stock_movements: { direction: 'up', policy: 'merge' },
} as const;

async function quantities(dbs: MatrixHub['db'][]): Promise<number[][]> {
  return Promise.all(dbs.map(async (db) => (await canonicalRows(db, 'items')).map((r) => Number(r.quantity))));
}

const assertConverged = (hub: MatrixHub, labs: MatrixLab[]): Promise<void> => assertSame(hub, labs, ['items']);
