import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, connectTo, joinMatrixLab, startMatrixHub, type DialectName } from '../helpers/replicas.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { HubClient } from '../../src/node/hub-client.ts';
import { HlcClock, type Change, type WireValue } from '../../src/protocol/index.ts';
import type { LogEntry } from '../../src/adapters/adapter.ts';

const WRITERS = 8;
const TX_PER_WRITER = 25;
const PUSHERS = 50;
const ROWS = 4;
const ID = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * The hub database under concurrent load (HARD-PARTS §3, §4): website writers
 * on their own connections and many nodes pushing at once, all touching the
 * same rows, while readers pull. No pull may miss a change, and no update may
 * be lost: every column ends with the value of its highest stamp, everywhere.
 */
export function hubConcurrency(dialect: DialectName): void {
  test(`${dialect} hub: ${WRITERS} website writers and ${PUSHERS} nodes pushing at once (${PUSHERS * 2} pushes) on the same rows: no pull misses a change, no update is lost`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, dialect, dir, { config: { maxClockAheadSeconds: 2 * 3600 } });
    for (let r = 1; r <= ROWS; r++) await hub.web.run("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', ?, 0, 'seed')", ID(r), `row ${r}`);
    const watcher = await joinMatrixLab(t, hub, 'sqlite', dir, 'watcher');

    // Nodes that push once each, all at the same moment.
    const pushers: { client: HubClient; clock: HlcClock }[] = [];
    for (let i = 0; i < PUSHERS; i++) {
      const { code } = await addNode(hub.db, `pusher-${i}`);
      const joined = await new HubClient(hub.url).join(code);
      // Half the nodes' clocks run an hour ahead: their changes win over website writes made meanwhile, so they are applied.
      pushers.push({ client: new HubClient(hub.url, joined.token), clock: new HlcClock(joined.nodeId, i % 2 ? () => Date.now() + 3_600_000 : Date.now) });
    }
    const writers = await Promise.all(Array.from({ length: WRITERS }, () => connectTo(t, dialect, hub.web.url)));

    // An incremental reader pulls all the while and records every change it is handed.
    const { code } = await addNode(hub.db, 'reader');
    const joined = await new HubClient(hub.url).join(code);
    const reader = new HubClient(hub.url, joined.token);
    await reader.handshake({ protocol: 1, schemaVersion: null });
    const seen = new Map<string, number>();
    let cursor = 0;
    let running = true;
    const pullOnce = async (): Promise<void> => {
      for (;;) {
        const page = await reader.pull(cursor, 200);
        for (const c of page.changes) if (c.table === 'items') seen.set(changeId(c), (seen.get(changeId(c)) ?? 0) + 1);
        cursor = page.cursor;
        if (!page.more) return;
      }
    };
    const pulling = (async () => {
      while (running) await pullOnce();
    })();
    const watching = (async () => {
      while (running) await watcher.agent.sync();
    })();

    const website = writers.map(async (w, wi) => {
      for (let k = 0; k < TX_PER_WRITER; k++) {
        const row = ID(1 + ((wi + k) % ROWS));
        if (k % 5 === 4) {
          await w.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-b', ?, 1)", ID(1000 + wi * 100 + k), `web ${wi}/${k}`);
        } else {
          // A website transaction that does some work while it holds the row
          // (not on SQLite: its connections in one process block each other's thread).
          const hold = dialect !== 'sqlite';
          if (hold) await w.exec('BEGIN');
          await w.run('UPDATE items SET notes = ?, quantity = ? WHERE id = ?', `web ${wi}/${k}`, wi * 1000 + k, row);
          if (hold) await delay(Math.floor(Math.random() * 8));
          if (hold) await w.exec('COMMIT');
        }
      }
    });
    // Each node pushes twice: once all together, then once at a random
    // moment while the website writes, its stamps then newer than the
    // website writes already made (so that its changes win and are applied).
    const pushes = pushers.map(async (p, i) => {
      let acked = 0;
      for (let round = 0; round < 2; round++) {
        if (round === 1) await delay(Math.floor(Math.random() * 200));
        const hs = await p.client.handshake({ protocol: 1, schemaVersion: null, clock: p.clock.tick() });
        p.clock.receive(hs.clock);
        const changes: Change[] = [];
        for (let r = 1; r <= ROWS; r++) changes.push({ table: 'items', pk: [ID(r)], op: 'U', hlc: p.clock.tick(), cols: i % 2 ? { notes: `node ${i}/${round}` } : { notes: `node ${i}/${round}`, quantity: -i } });
        const id = ID(5000 + i * 2 + round);
        changes.push({ table: 'items', pk: [id], op: 'I', hlc: p.clock.tick(), cols: { id, lab_id: 'lab-c', category_id: null, name: `pushed ${i}/${round}`, serial_number: null, quantity: i, unit_price: null, status: 'active', notes: null, updated_at: '2026-11-22T00:00:00.000Z' } });
        const res = await p.client.push({ from: acked, to: acked + changes.length, page: 0, pages: 1, cursor: 0, clock: p.clock.last, changes });
        assert.equal(res.ack, acked + changes.length);
        acked = res.ack;
        p.clock.receive(res.clock);
      }
    });
    await Promise.all([...website, ...pushes]);
    running = false;
    await Promise.all([pulling, watching]);
    await pullOnce();
    await watcher.agent.sync();

    // Every change in the hub's log reached the incremental reader, exactly once.
    const log: LogEntry[] = [];
    for (let after = 0; ; ) {
      const { entries } = await hub.db.read((tx) => tx.readLog({ after, limit: 5000, excludeOrigin: null, tables: ['items'] }));
      if (!entries.length) break;
      log.push(...entries);
      after = entries[entries.length - 1]!.seq;
    }
    const expectedEntries = WRITERS * Math.floor(TX_PER_WRITER / 5) + PUSHERS * 2;
    assert.ok(log.length >= expectedEntries, `the log holds every change (${log.length} ≥ ${expectedEntries})`);
    // (Restatements can repeat a change exactly, so compare counts.)
    const inLog = new Map<string, number>();
    for (const e of log) inLog.set(changeId(e.change), (inLog.get(changeId(e.change)) ?? 0) + 1);
    const missed = log.filter((e) => (seen.get(changeId(e.change)) ?? 0) < inLog.get(changeId(e.change))!);
    assert.deepEqual(missed.map((e) => e.seq), [], 'changes the incremental reader never saw');
    assert.deepEqual(seen, inLog, 'every change handed out exactly as often as it is in the log');

    // No website write was overwritten unseen: a website update is logged
    // with the website's value (a push applied between its commit and its
    // sequencing would have put the node's value under the website's stamp).
    const webEntries = log.filter((e) => e.origin === null && e.change.op === 'U' && e.change.cols && 'notes' in e.change.cols);
    assert.ok(webEntries.length > 0);
    const overwritten = webEntries.filter((e) => !String(e.change.cols!.notes).startsWith('web '));
    assert.deepEqual(overwritten.map((e) => [e.seq, e.change.cols!.notes]), [], 'website updates logged with a value the website never wrote');

    // No lost update: each column holds the value of its highest stamp in the log.
    const rows = await canonicalRows(hub.db, 'items');
    const want = new Map<string, Record<string, { hlc: string; value: WireValue }>>();
    for (const e of log) {
      const key = JSON.stringify(e.change.pk);
      const cols = want.get(key) ?? {};
      for (const [c, v] of Object.entries(e.change.cols ?? {})) {
        const hlc = e.change.colHlc?.[c] ?? e.change.hlc;
        if (!cols[c] || hlc > cols[c]!.hlc) cols[c] = { hlc, value: v };
      }
      want.set(key, cols);
    }
    for (let r = 1; r <= ROWS; r++) {
      const row = rows.find((x) => x.id === ID(r))!;
      const cols = want.get(JSON.stringify([ID(r)]))!;
      for (const c of ['notes', 'quantity']) assert.deepEqual(row[c], cols[c]!.value, `items ${ID(r)}.${c}: the hub's value is not its newest write`);
    }
    assert.equal(rows.length, ROWS + WRITERS * Math.floor(TX_PER_WRITER / 5) + PUSHERS * 2);
    // A node that synced all along converged to the hub.
    assert.deepEqual(await canonicalRows(watcher.db, 'items'), rows);
  });
}

/**
 * The race behind a lost update, made to happen: a website transaction holds
 * a row while a push for it arrives. The push must wait for it and resolve
 * against it (HARD-PARTS §4), not overwrite it unseen after it commits.
 */
export function hubRowRace(dialect: 'mysql' | 'postgres'): void {
  test(`${dialect} hub: a push waits for a website transaction holding its row and resolves against it`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, dialect, dir);
    await hub.web.run("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'row', 0, 'seed')", ID(1));
    const { code } = await addNode(hub.db, 'lab-x');
    const joined = await new HubClient(hub.url).join(code);
    const client = new HubClient(hub.url, joined.token);
    const clock = new HlcClock(joined.nodeId);
    clock.receive((await client.handshake({ protocol: 1, schemaVersion: null, clock: clock.tick() })).clock);
    // The lab's edit is made first…
    const change: Change = { table: 'items', pk: [ID(1)], op: 'U', hlc: clock.tick(), cols: { notes: 'lab edit' } };
    await delay(20);
    // …then the website's, in a transaction still open when the push arrives.
    const web = await connectTo(t, dialect, hub.web.url);
    await web.exec('BEGIN');
    await web.run("UPDATE items SET notes = 'website edit' WHERE id = ?", ID(1));
    const push = client.push({ from: 0, to: 1, page: 0, pages: 1, cursor: 0, clock: clock.last, changes: [change] });
    await delay(300);
    await web.exec('COMMIT');
    const res = await push;
    assert.equal(res.conflicts, 1, 'the lab edit is older than the website edit it waited for: it loses, and is recorded');
    await hub.hub.sequencePending();
    const [row] = await canonicalRows(hub.db, 'items');
    assert.equal(row!.notes, 'website edit', 'the newer website edit is kept');
    const { entries } = await hub.db.read((tx) => tx.readLog({ after: 0, limit: 100, excludeOrigin: null, tables: ['items'] }));
    const last = entries.filter((e) => JSON.stringify(e.change.pk) === JSON.stringify([ID(1)])).pop()!;
    assert.equal(last.change.cols?.notes, 'website edit', 'and it is what nodes receive');
  });
}

/**
 * The same race on a node: the lab app holds a row in an open transaction
 * while a pull page for it arrives. The page waits, sees the app's edit as
 * pending, and the edit is pushed and resolved, never overwritten unseen.
 */
export function nodeRowRace(dialect: 'mysql' | 'postgres'): void {
  test(`${dialect} lab: a pull page waits for an app transaction holding its row, and the app's newer edit survives`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, 'sqlite', dir);
    const lab = await joinMatrixLab(t, hub, dialect, dir, 'lab-a');
    await lab.app.run("INSERT INTO items (id, lab_id, name, quantity, notes) VALUES (?, 'lab-a', 'row', 0, 'seed')", ID(1));
    await lab.agent.sync();
    await hub.web.run("UPDATE items SET notes = 'website edit' WHERE id = ?", ID(1));
    await delay(20);
    const app = await connectTo(t, dialect, lab.app.url);
    await app.exec('BEGIN');
    await app.run("UPDATE items SET notes = 'lab app edit' WHERE id = ?", ID(1));
    const sync = lab.agent.sync();
    await delay(300);
    await app.exec('COMMIT');
    await sync;
    await lab.agent.sync();
    const [hubRow] = await canonicalRows(hub.db, 'items');
    const [labRow] = await canonicalRows(lab.db, 'items');
    assert.equal(labRow!.notes, 'lab app edit', "the app's edit, made after the website's, is kept on the lab");
    assert.equal(hubRow!.notes, 'lab app edit', 'and wins at the hub');
  });
}

/**
 * A push on a server-database lab while an app transaction that touches a
 * row being pushed is still open: the push waits for it and sends the whole
 * transaction, not the row values without their stamps (or half of it).
 */
export function nodePushRace(dialect: 'mysql' | 'postgres'): void {
  test(`${dialect} lab: a push waits for an open app transaction on a row it sends, and sends that transaction whole`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, 'sqlite', dir);
    const lab = await joinMatrixLab(t, hub, dialect, dir, 'lab-a');
    for (const n of [1, 2]) await lab.app.run("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-a', 'row', 0)", ID(n));
    await lab.agent.sync();
    await lab.app.run("UPDATE items SET notes = 'committed before' WHERE id = ?", ID(1));
    const app = await connectTo(t, dialect, lab.app.url);
    await app.exec('BEGIN');
    await app.run('UPDATE items SET quantity = 5 WHERE id = ?', ID(1));
    await app.run('UPDATE items SET quantity = 6 WHERE id = ?', ID(2));
    const sync = lab.agent.sync();
    await delay(300);
    await app.exec('COMMIT');
    const s = await sync;
    assert.equal(s.pushed, 2, 'both rows of the app transaction went in this push');
    const rows = await canonicalRows(hub.db, 'items');
    assert.deepEqual(rows.map((r) => [r.notes, r.quantity]), [['committed before', 5], [null, 6]]);
    assert.equal((await lab.agent.status()).pending, 0);
  });
}

function changeId(c: Change): string {
  return `${c.table} ${JSON.stringify(c.pk)} ${c.op} ${c.hlc} ${JSON.stringify(c.colHlc ?? {})}`;
}
