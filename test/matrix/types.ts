import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/fixtures.ts';
import { canonicalRows, joinMatrixLab, startMatrixHub, type AppDb, type DialectName } from '../helpers/replicas.ts';
import { ROUND_TRIP } from '../conformance/adapter-suite.ts';
import type { WireValue } from '../../src/protocol/index.ts';

/** The conformance suite's `kinds` table, one column per type family, in each dialect. */
const SCHEMA: Record<DialectName, string> = {
  sqlite: `
    CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL);
    CREATE TABLE kinds (id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, dec DECIMAL(12,2), f REAL, b BOOLEAN,
      d DATE, ts DATETIME(3), t TEXT, bin BLOB, j JSON, u UUID, parent_id TEXT REFERENCES parent (id));`,
  mysql: `
    CREATE TABLE parent (id VARCHAR(64) PRIMARY KEY NOT NULL, name TEXT NOT NULL) DEFAULT CHARSET=utf8mb4;
    CREATE TABLE kinds (id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, \`dec\` DECIMAL(12,2), f DOUBLE, b BOOLEAN,
      d DATE, ts DATETIME(3), t TEXT, bin BLOB, j JSON, u UUID, parent_id VARCHAR(64),
      FOREIGN KEY (parent_id) REFERENCES parent (id)) DEFAULT CHARSET=utf8mb4;`,
  postgres: `
    CREATE TABLE parent (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL);
    CREATE TABLE kinds (id BIGINT PRIMARY KEY, i INTEGER, big BIGINT, dec NUMERIC(12,2), f DOUBLE PRECISION, b BOOLEAN,
      d DATE, ts TIMESTAMPTZ(3), t TEXT, bin BYTEA, j JSON, u UUID, parent_id TEXT REFERENCES parent (id));`,
};

const COLS = ['id', 'i', 'big', 'dec', 'f', 'b', 'd', 'ts', 't', 'bin', 'j', 'u', 'parent_id'];

/** A canonical value as an application of that dialect would bind it. */
function bind(dialect: DialectName, col: string, v: WireValue): unknown {
  if (v === null) return null;
  if (typeof v === 'object' && '$n' in v) return dialect === 'sqlite' ? BigInt(v.$n) : v.$n;
  if (typeof v === 'object' && '$b' in v) return Buffer.from(v.$b, 'base64');
  if (col === 'ts' && dialect === 'mysql') return String(v).replace('T', ' ').replace('Z', '');
  if (typeof v === 'boolean' && dialect !== 'postgres') return v ? 1 : 0;
  return v;
}

async function insertKinds(app: AppDb, row: Record<string, WireValue>): Promise<void> {
  const q = (c: string): string => (c === 'dec' && app.dialect === 'mysql' ? '`dec`' : c);
  await app.run(`INSERT INTO kinds (${COLS.map(q).join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})`, ...COLS.map((c) => bind(app.dialect, c, row[c] ?? null)));
}

/**
 * Every type family across dialects: rows the website writes reach a lab of
 * another dialect, rows a lab app writes reach the hub, all with identical
 * values; the lab's provisioned table has the mapped types.
 */
export function typeScenarios(hubDialect: DialectName, labDialect: DialectName): void {
  test(`types: hub ${hubDialect} × lab ${labDialect}: every type family provisions with mapped types and round-trips identical values both ways`, async (t) => {
    const dir = tempDir(t);
    const hub = await startMatrixHub(t, hubDialect, dir, { schema: SCHEMA[hubDialect], config: { tables: { parent: { direction: 'both', policy: 'merge' }, kinds: { direction: 'both', policy: 'merge' } } } });
    await hub.web.run("INSERT INTO parent (id, name) VALUES ('p1', 'parent')");
    await insertKinds(hub.web, ROUND_TRIP[0]!);
    await insertKinds(hub.web, ROUND_TRIP[2]!);
    const lab = await joinMatrixLab(t, hub, labDialect, dir, 'lab-a');
    const kindsOf = async (db: typeof hub.db): Promise<string[]> => (await db.introspect()).find((x) => x.name === 'kinds')!.columns.map((c) => `${c.name}:${c.kind}`);
    assert.deepEqual(await kindsOf(lab.db), await kindsOf(hub.db), 'the provisioned table has the same kinds');
    // A row the lab app writes, with extreme values, reaches the hub.
    await insertKinds(lab.app, ROUND_TRIP[1]!);
    await lab.agent.sync();
    const want = [ROUND_TRIP[1]!, ROUND_TRIP[0]!, ROUND_TRIP[2]!].map((r) => Object.fromEntries(COLS.map((c) => [c, r[c] ?? null])));
    assert.deepEqual(await canonicalRows(hub.db, 'kinds'), want, 'hub');
    assert.deepEqual(await canonicalRows(lab.db, 'kinds'), want, 'lab');
  });
}
