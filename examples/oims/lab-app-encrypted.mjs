#!/usr/bin/env node
// The lab app's side of an encrypted lab database (docs/security-transport-storage.md,
// "Encryption at rest"): open the file Outpost created encrypted, with the same key,
// before any other statement. Plain SQLite (the sqlite3 shell, better-sqlite3) cannot.
//
//   OUTPOST_DB_KEY='the passphrase' node examples/oims/lab-app-encrypted.mjs lab-a.db \
//     "SELECT name, quantity FROM items ORDER BY name"
//
// Prints the rows of a query as JSON lines, or runs a statement that returns none.
import Database from 'better-sqlite3-multiple-ciphers';

/** Open an Outpost-encrypted SQLite file (SQLCipher 4 format) as an app sharing it with the agent. */
export function openEncrypted(path, key) {
  const db = new Database(path, { fileMustExist: true });
  // SQLite3MultipleCiphers' default cipher is another one: choose SQLCipher 4 first.
  // (With an SQLCipher 4 build, only the `key` pragma is needed.)
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  db.pragma(`key = '${key.replace(/'/g, "''")}'`);
  db.prepare('SELECT COUNT(*) FROM sqlite_master').get(); // fails here on a wrong key: "file is not a database"
  db.pragma('busy_timeout = 5000'); // the agent writes the same file: wait for its transactions
  return db;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, sql] = process.argv.slice(2);
  const key = process.env.OUTPOST_DB_KEY;
  if (!path || !sql || !key) {
    console.error('usage: OUTPOST_DB_KEY=… node lab-app-encrypted.mjs FILE SQL');
    process.exit(2);
  }
  const db = openEncrypted(path, key);
  const st = db.prepare(sql);
  if (st.reader) for (const row of st.iterate()) console.log(JSON.stringify(row));
  else st.run();
  db.close();
}
