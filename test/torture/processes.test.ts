import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { oimsDatabase, tempDir } from '../helpers/fixtures.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import {
  HubProcess, cursorOf, integrity, joinLab, killNow, logDuplicates, outpostProcess, query, rng, sleep, tortureSeed, type Rng,
} from './processes-kit.ts';

/**
 * The process tier: a SQLite hub and two SQLite labs as real `outpost`
 * processes. The labs' apps keep writing while `outpost sync` processes and
 * the hub are SIGKILLed at seeded random moments and restarted; then
 * everything heals and the oracle checks the result.
 */

const RUNS = 4;
const STEPS = 8;
const LABS = ['lab-a', 'lab-b'] as const;
const SHARED = ['shared-1', 'shared-2', 'shared-3'];

/** One committed app write: a cell's new value, or a row's delete. */
type Write = { writer: string; id: string; col: string; value: unknown } | { writer: string; id: string; deleted: true };

/** A lab app: its own connection, writing its own items, the shared items' notes and stock movements. */
class LabApp {
  readonly name: string;
  readonly path: string;
  readonly db: Database.Database;
  readonly own: string[] = [];
  readonly movements: string[] = [];
  #n = 0;

  constructor(name: string, path: string) {
    this.name = name;
    this.path = path;
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
  }

  /** One random write; returns what it committed (nothing when the database refused it). */
  write(r: Rng, log: Write[]): void {
    const roll = r.next();
    const done: Write[] = [];
    try {
      if (roll < 0.35 || this.own.length === 0) {
        const id = `${this.name}-${++this.#n}`;
        const row = { id, lab_id: this.name, name: `item ${id}`, quantity: r.int(0, 100) };
        this.db.prepare('INSERT INTO items (id, lab_id, name, quantity) VALUES (?, ?, ?, ?)').run(row.id, row.lab_id, row.name, row.quantity);
        this.own.push(id);
        done.push({ writer: this.name, id, col: 'name', value: row.name }, { writer: this.name, id, col: 'quantity', value: row.quantity });
      } else if (roll < 0.65) {
        const id = r.pick(this.own);
        const q = r.int(0, 1000);
        this.db.prepare('UPDATE items SET quantity = ? WHERE id = ?').run(q, id);
        done.push({ writer: this.name, id, col: 'quantity', value: q });
      } else if (roll < 0.75) {
        const id = this.own.splice(r.int(0, this.own.length - 1), 1)[0]!;
        this.db.prepare('DELETE FROM items WHERE id = ?').run(id);
        done.push({ writer: this.name, id, deleted: true });
      } else if (roll < 0.9) {
        const id = r.pick(SHARED);
        const notes = `${this.name} note ${r.int(0, 1e6)}`;
        this.db.prepare('UPDATE items SET notes = ? WHERE id = ?').run(notes, id);
        done.push({ writer: this.name, id, col: 'notes', value: notes });
      } else {
        const id = `${this.name}-m${++this.#n}`;
        this.db.prepare("INSERT INTO stock_movements (id, item_id, lab_id, delta, reason) VALUES (?, ?, ?, ?, 'use')").run(id, r.pick(SHARED), this.name, -r.int(1, 5));
        this.movements.push(id);
      }
      log.push(...done);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY')) throw e; // only a busy database may refuse an app write here
    }
  }
}

/** The website's writes on the hub: categories (direction down) change and grow. */
function websiteWrite(hubPath: string, r: Rng, n: number): void {
  const db = new Database(hubPath);
  db.pragma('busy_timeout = 5000');
  try {
    if (r.next() < 0.5) db.prepare("INSERT INTO categories (id, name) VALUES (?, ?)").run(`cat-${n}`, `category ${n}`);
    else db.prepare('UPDATE categories SET name = ? WHERE id = ?').run(`reagents ${n}`, 'reagents');
  } finally {
    db.close();
  }
}

async function equalReplicas(hubPath: string, labPaths: string[]): Promise<string | null> {
  const hub = await openAdapter(`sqlite:${hubPath}`);
  try {
    for (const path of labPaths) {
      const lab = await openAdapter(`sqlite:${path}`);
      try {
        for (const table of ['labs', 'categories', 'items']) {
          const [h, l] = [await canonicalRows(hub, table), await canonicalRows(lab, table)];
          if (JSON.stringify(h) !== JSON.stringify(l)) return `${path}: ${table} differs (${l.length} rows, hub ${h.length})`;
        }
      } finally {
        await lab.close();
      }
    }
    return null;
  } finally {
    await hub.close();
  }
}

for (let run = 0; run < RUNS; run++) {
  test(`process run ${run + 1}/${RUNS}: syncs and the hub SIGKILLed at random moments while the labs write; after healing nothing is lost, doubled or corrupt`, async (t) => {
    const seed = tortureSeed(`process run ${run + 1}`) + run;
    const r = rng(seed);
    const dir = tempDir(t, 'outpost-proc-');
    const hubPath = oimsDatabase(join(dir, 'hub.db'));
    {
      const web = new Database(hubPath);
      const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', ?, 10)");
      for (const id of SHARED) ins.run(id, `shared ${id}`);
      web.close();
    }
    const hub = await HubProcess.start(hubPath);
    t.after(() => hub.kill());
    const labPath = (name: string): string => join(dir, `${name}.db`);
    await Promise.all(LABS.map((name) => joinLab(hub, name, labPath(name))));
    const apps = LABS.map((name) => new LabApp(name, labPath(name)));
    t.after(() => apps.forEach((a) => a.db.close()));

    const log: Write[] = [];
    const cursors = new Map<string, number>(LABS.map((n) => [n, cursorOf(labPath(n))]));
    const sampleCursors = (when: string): void => {
      for (const name of LABS) {
        const c = cursorOf(labPath(name));
        assert.ok(c >= cursors.get(name)!, `${name}'s cursor moved backwards ${when}: ${cursors.get(name)} -> ${c} (seed ${seed})`);
        cursors.set(name, c);
      }
    };
    const checkIntegrity = (path: string, when: string): void => assert.equal(integrity(path), 'ok', `${path} after ${when} (seed ${seed})`);

    // The apps write all along, at their own pace.
    let writing = true;
    let websiteN = 0;
    const writers = (async () => {
      while (writing) {
        r.pick(apps).write(r, log);
        if (r.next() < 0.05) websiteWrite(hubPath, r, ++websiteN);
        await sleep(r.int(5, 40));
      }
    })();

    const stats = { syncKills: 0, syncKilledMidRun: 0, hubKills: 0, syncsOk: 0, syncsFailed: 0 };
    for (let step = 0; step < STEPS; step++) {
      const lab = r.pick(LABS);
      const action = r.pick(['sync', 'kill-sync', 'kill-sync', 'kill-hub'] as const);
      if (!hub.running) await hub.restart();
      const sync = outpostProcess(['sync', '--db', `sqlite:${labPath(lab)}`, '--json']);
      if (action === 'sync') {
        const res = await sync.done;
        if (res.code === 0) stats.syncsOk++;
        else stats.syncsFailed++;
        assert.ok(res.code === 0 || res.code === 3, `a sync ends well or with "retry later" (exit ${res.code}): ${res.stderr}`);
      } else if (action === 'kill-sync') {
        await sleep(r.int(150, 1000));
        stats.syncKills++;
        if (await killNow(sync.child)) stats.syncKilledMidRun++;
        await sync.done;
        checkIntegrity(labPath(lab), `a sync was killed at step ${step}`);
      } else {
        await sleep(r.int(150, 1000));
        stats.hubKills++;
        await hub.kill();
        checkIntegrity(hubPath, `the hub was killed at step ${step}`);
        const res = await sync.done;
        assert.ok(res.code === 0 || res.code === 3, `a sync whose hub was killed says "retry later" (exit ${res.code}): ${res.stderr}`);
        if (r.next() < 0.5) await hub.restart();
      }
      sampleCursors(`at step ${step} (${action})`);
    }
    writing = false;
    await writers;

    // Heal: the hub is killed once more and restarted; the labs sync until every replica equals the hub.
    await hub.kill();
    checkIntegrity(hubPath, 'the last hub kill');
    await hub.restart();
    let rounds = 0;
    let differs: string | null = 'not synced yet';
    while (differs !== null && Date.now() - hub.startedAt < 60_000) {
      rounds++;
      // Both labs sync side by side, twice: the second time each pulls what the other pushed.
      for (let pass = 0; pass < 2; pass++) {
        const done = await Promise.all(LABS.map((name) => outpostProcess(['sync', '--db', `sqlite:${labPath(name)}`, '--json']).done));
        for (const res of done) assert.equal(res.code, 0, `a sync after healing: ${res.stderr}`);
        sampleCursors('while healing');
      }
      differs = await equalReplicas(hubPath, LABS.map(labPath));
    }
    const convergedMs = Date.now() - hub.startedAt;
    console.log(`# run ${run + 1} (seed ${seed}): ${log.length} app writes, ${stats.syncKills} sync kills (${stats.syncKilledMidRun} while running), ${stats.hubKills} hub kills, ${stats.syncsOk} plain syncs ok, ${stats.syncsFailed} failed; converged ${convergedMs} ms after the last restart in ${rounds} round(s)`);
    assert.equal(differs, null, `replicas equal the hub (seed ${seed})`);
    assert.ok(convergedMs < 30_000, `converged within 30 s of the last restart (${convergedMs} ms)`);

    // The oracle.
    for (const path of [hubPath, ...LABS.map(labPath)]) checkIntegrity(path, 'healing');
    const dupes = logDuplicates(hubPath);
    const dupeRows = dupes.length ? query(hubPath, 'SELECT seq, tbl, pk, op, hlc, cols, origin FROM _outpost_log WHERE pk = ? ORDER BY seq', dupes[0]!.pk) : [];
    assert.deepEqual(dupes, [], `no change entered the hub's log twice (seed ${seed}): ${JSON.stringify(dupeRows)}`);
    const hubItems = new Map(query<Record<string, unknown>>(hubPath, 'SELECT * FROM items').map((row) => [row.id as string, row]));
    const last = new Map<string, Write>();
    const lastBy = new Map<string, Map<string, unknown>>(); // shared cell -> writer -> last value
    for (const w of log) {
      if ('deleted' in w) last.set(`${w.id}|`, w);
      else if (SHARED.includes(w.id)) {
        const k = `${w.id}|${w.col}`;
        if (!lastBy.has(k)) lastBy.set(k, new Map());
        lastBy.get(k)!.set(w.writer, w.value);
      } else last.set(`${w.id}|${w.col}`, w);
    }
    let checked = 0;
    for (const [key, w] of last) {
      const row = hubItems.get(w.id);
      if ('deleted' in w) assert.equal(row, undefined, `${w.id} was deleted by ${w.writer} and stays deleted (seed ${seed})`);
      else if (!last.has(`${w.id}|`)) {
        assert.ok(row, `${w.id}, written by ${w.writer}, is at the hub (seed ${seed})`);
        assert.equal(row[w.col], w.value, `${key}: the hub holds ${w.writer}'s last write (seed ${seed})`);
      }
      checked++;
    }
    for (const [key, byWriter] of lastBy) {
      const [id, col] = key.split('|') as [string, string];
      const value = hubItems.get(id)?.[col];
      assert.ok([...byWriter.values()].includes(value), `${key}: the hub's ${JSON.stringify(value)} is one writer's last write ${JSON.stringify([...byWriter])} (seed ${seed})`);
    }
    const movementsAtHub = new Set(query<{ id: string }>(hubPath, 'SELECT id FROM stock_movements').map((m) => m.id));
    for (const app of apps) for (const id of app.movements) assert.ok(movementsAtHub.has(id), `stock movement ${id} reached the hub (seed ${seed})`);
    assert.ok(checked > 0 && log.length > 20, `the apps wrote (${log.length} writes)`);
  });
}
