import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openAdapter } from '../../src/adapters/open.ts';
import { createServerDatabase, POSTGRES_ROOT } from '../helpers/server-db.ts';

test('PostgreSQL: a connection the server ends in the middle of a transaction fails that transaction, never the process, and the adapter goes on', async (t) => {
  const server = await createServerDatabase(t, 'postgres');
  const db = await openAdapter(server.url);
  t.after(() => db.close());
  await db.installBookkeeping('hub');
  let uncaught: unknown = null;
  const onUncaught = (e: unknown): void => {
    uncaught = e;
  };
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  const admin = new pg.Client({ connectionString: `${POSTGRES_ROOT}/postgres` });
  await admin.connect();
  t.after(() => admin.end());
  const write = db.write(async (tx) => {
    await tx.setState('k', 'v');
    // An admin ends this backend while the transaction is open (it is the one idle in a transaction).
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state = $2', [server.name, 'idle in transaction']);
    await new Promise((r) => setTimeout(r, 200));
    await tx.setState('k2', 'v2');
  });
  await assert.rejects(write);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(uncaught, null, `no uncaught exception: ${String(uncaught)}`);
  // The adapter goes on with a new connection; the ended transaction left nothing.
  await db.write((tx) => tx.setState('k3', 'v3'));
  assert.equal(await db.read((tx) => tx.getState('k')), null);
  assert.equal(await db.read((tx) => tx.getState('k3')), 'v3');
});
