import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHubConfig, parseHubConfig } from '../../src/hub/config.ts';
import { buildCatalogue } from '../../src/hub/catalogue.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import { SqliteAdapter } from '../../src/adapters/sqlite/sqlite-adapter.ts';
import { OIMS_CONFIG, oimsDatabase, tempDir } from '../helpers/fixtures.ts';

function configError(raw: unknown): OutpostError {
  try {
    parseHubConfig(raw, 'hub.json');
  } catch (e) {
    assert.ok(e instanceof OutpostError);
    assert.equal(e.code, 'CONFIG_INVALID');
    return e;
  }
  assert.fail('the config was accepted');
}

test('config: the OIMS example is valid, with defaults filled in', () => {
  const c = loadHubConfig(OIMS_CONFIG);
  assert.equal(c.tables.items!.direction, 'both');
  assert.equal(c.tables.items!.policy, 'merge');
  assert.equal(c.tables.labs!.direction, 'down');
  assert.equal(c.limits.pullPage, 5000);
});

test('config: errors name the bad field', () => {
  assert.match(configError({ tables: { items: { direction: 'sideways' } } }).message, /hub\.json: tables\.items\.direction/);
  assert.match(configError({ tables: { items: { policy: 'first' } } }).message, /tables\.items\.policy/);
  assert.match(configError({ tables: { items: { direction: 'up', colour: 'red' } } }).message, /tables\.items.*colour/);
  assert.match(configError({ tables: {} }).message, /tables: name at least one table/);
  assert.match(configError({}).message, /tables/);
  assert.match(configError({ tables: { 'bad name': {} } }).message, /tables/);
  assert.match(configError({ tables: { items: {} }, limits: { pullPage: 0 } }).message, /limits\.pullPage/);
});

test('config: unreadable and non-JSON files get clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-cfg-'));
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "tables": ');
  assert.throws(() => loadHubConfig(bad), (e: OutpostError) => e.code === 'CONFIG_INVALID' && /bad\.json is not valid JSON/.test(e.message));
  assert.throws(() => loadHubConfig(join(dir, 'missing.json')), (e: OutpostError) => e.code === 'CONFIG_INVALID' && /cannot read config/.test(e.message));
});

test('config: tables must exist in the database and have a primary key', async (t) => {
  const dir = tempDir(t);
  const path = oimsDatabase(join(dir, 'hub.db'));
  const db = new SqliteAdapter(path);
  t.after(() => db.close());
  const found = await db.introspect();
  assert.throws(() => buildCatalogue(parseHubConfig({ tables: { gadgets: {} } }), found), /tables\.gadgets: no such table/);
  const nokey = [{ name: 'loose', columns: [{ name: 'a', type: 'TEXT', kind: 'text' as const, notNull: false }], primaryKey: [], foreignKeys: [] }];
  assert.throws(() => buildCatalogue(parseHubConfig({ tables: { loose: {} } }), nokey), (e: OutpostError) => e.code === 'SCHEMA_INVALID' && /no primary key/.test(e.message));
  const cat = buildCatalogue(loadHubConfig(OIMS_CONFIG), found);
  // parents first: labs and categories before items, items before stock_movements
  const order = cat.tables.map((t) => t.name);
  assert.ok(order.indexOf('labs') < order.indexOf('items'));
  assert.ok(order.indexOf('items') < order.indexOf('stock_movements'));
  assert.match(cat.version, /^[0-9a-f]{16}$/);
});
