/**
 * What the SQLite driver swap and encryption at rest cost: the stock
 * better-sqlite3 against better-sqlite3-multiple-ciphers on a plain file, and
 * the latter on a SQLCipher 4 encrypted file. Settings as the adapter's
 * writer (WAL, synchronous FULL).
 *
 *   node --import tsx bench/sqlite-cipher.ts [rows] [runs]
 *
 * Runs are interleaved. Prints, per driver and mode: the median over runs of the time to open a
 * connection and read the schema (with a key: the PBKDF2 key derivation),
 * to insert `rows` OIMS-like rows in transactions of 500, to read them all back,
 * and to update them in one transaction.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stock from 'better-sqlite3';
import Cipher from 'better-sqlite3-multiple-ciphers';

type Db = Stock.Database | Cipher.Database;
const rows = Number(process.argv[2] ?? 50_000);
const runs = Number(process.argv[3] ?? 5);
const KEY = 'a passphrase of some length';

function open(kind: string, path: string): Db {
  const db: Db = kind === 'stock' ? new Stock(path) : new Cipher(path);
  if (kind === 'encrypted') {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    db.pragma(`hexkey = '${Buffer.from(KEY).toString('hex')}'`);
    db.pragma('temp_store = MEMORY');
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return db;
}

function once(kind: string): Record<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-cipher-'));
  const path = join(dir, 'b.db');
  try {
    const t: Record<string, number> = {};
    let db = open(kind, path);
    db.exec('CREATE TABLE items (id TEXT PRIMARY KEY, lab_id TEXT, name TEXT, quantity INTEGER, unit_price DECIMAL(10,2), notes TEXT)');
    const ins = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)');
    let s = process.hrtime.bigint();
    for (let i = 0; i < rows; i += 500) {
      db.transaction(() => {
        for (let j = i; j < Math.min(rows, i + 500); j++) ins.run(`00000000-0000-4000-8000-${String(j).padStart(12, '0')}`, 'lab-a', `item ${j}`, j, j / 100, 'n'.repeat(100));
      })();
    }
    t.insert = Number(process.hrtime.bigint() - s) / 1e6;
    db.close();
    s = process.hrtime.bigint();
    db = open(kind, path);
    db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
    t.open = Number(process.hrtime.bigint() - s) / 1e6;
    s = process.hrtime.bigint();
    const all = db.prepare('SELECT * FROM items').all();
    t.readAll = Number(process.hrtime.bigint() - s) / 1e6;
    if (all.length !== rows) throw new Error('lost rows');
    s = process.hrtime.bigint();
    db.transaction(() => db.prepare('UPDATE items SET quantity = quantity + 1').run())();
    t.updateAll = Number(process.hrtime.bigint() - s) / 1e6;
    db.close();
    return t;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const versions = {
  stock: (new Stock(':memory:').prepare('SELECT sqlite_version() AS v').get() as { v: string }).v,
  cipher: (new Cipher(':memory:').prepare('SELECT sqlite_version() AS v').get() as { v: string }).v,
};
console.log(`${rows} rows, median of ${runs} runs; SQLite ${versions.stock} (better-sqlite3), ${versions.cipher} (better-sqlite3-multiple-ciphers)`);
console.log('| driver, file | open (ms) | insert (ms) | rows/s | read all (ms) | update all (ms) |');
console.log('| --- | --- | --- | --- | --- | --- |');
// Interleaved, so that a load change on a shared machine hits every kind alike.
const KINDS = ['stock', 'cipher', 'encrypted'];
const results = new Map<string, Record<string, number>[]>(KINDS.map((k) => [k, []]));
for (let r = 0; r < runs; r++) for (const kind of KINDS) results.get(kind)!.push(once(kind));
for (const kind of KINDS) {
  const res = results.get(kind)!;
  const m = (k: string): number => median(res.map((x) => x[k]!));
  const label = kind === 'stock' ? 'better-sqlite3, plain' : kind === 'cipher' ? 'multiple-ciphers, plain' : 'multiple-ciphers, SQLCipher 4';
  console.log(`| ${label} | ${m('open').toFixed(1)} | ${m('insert').toFixed(0)} | ${Math.round(rows / (m('insert') / 1000))} | ${m('readAll').toFixed(0)} | ${m('updateAll').toFixed(0)} |`);
}
