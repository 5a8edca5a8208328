import { join } from 'node:path';
import Cipher from 'better-sqlite3-multiple-ciphers';
import { adapterConformance } from './adapter-suite.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';

/** The SQLite conformance suite again, on an encrypted file (SQLCipher 4) that the app created with its key. */
const KEY = 'conformance passphrase';

adapterConformance('sqlite (encrypted)', async (t) => {
  const path = join(tempDir(t), 'conformance.db');
  const app = new Cipher(path);
  app.pragma("cipher = 'sqlcipher'");
  app.pragma('legacy = 4');
  app.pragma(`key = '${KEY}'`);
  app.pragma('journal_mode = WAL');
  app.pragma('busy_timeout = 5000');
  app.exec(`
    CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL);
    CREATE TABLE kinds (
      id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, dec DECIMAL(12,2), f REAL, b BOOLEAN,
      d DATE, ts DATETIME(3), t TEXT, bin BLOB, j JSON, u UUID,
      parent_id TEXT REFERENCES parent (id)
    );`);
  const adapter = new SqliteAdapter(path, { key: KEY });
  return {
    adapter,
    async appExec(sql) {
      app.exec(sql);
    },
    async close() {
      app.close();
      await adapter.close();
    },
  };
});
