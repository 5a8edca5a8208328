import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHubConfig } from '../../src/hub/config.ts';
import { buildCatalogue } from '../../src/hub/catalogue.ts';
import { loadResolvers } from '../../src/hub/resolvers.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import type { IntrospectedTable } from '../../src/adapters/adapter.ts';

const items: IntrospectedTable = {
  name: 'items',
  columns: [
    { name: 'id', type: 'TEXT', kind: 'text', notNull: true },
    { name: 'name', type: 'TEXT', kind: 'text', notNull: true },
    { name: 'quantity', type: 'INTEGER', kind: 'integer', notNull: true },
    { name: 'reserved', type: 'INTEGER', kind: 'integer', notNull: false },
    { name: 'notes', type: 'TEXT', kind: 'text', notNull: false },
  ],
  primaryKey: ['id'],
  foreignKeys: [],
};
const catalogue = (items$: object) => buildCatalogue(parseHubConfig({ tables: { items: items$ } }), [items]);
const refused = (fn: () => unknown, re: RegExp): void => assert.throws(fn, (e: OutpostError) => e.code === 'CONFIG_INVALID' && re.test(e.message));

test('config: table policies, column overrides and delete rules reach the catalogue; what nodes see decides the schema version', () => {
  const c = catalogue({ policy: 'manual', columns: { quantity: 'counter', notes: 'merge' }, onDelete: 'update-wins' });
  const t = c.byName.get('items')!;
  assert.deepEqual([t.policy, t.columnPolicies, t.onDelete], ['manual', { quantity: 'counter', notes: 'merge' }, 'update-wins']);
  // manual, custom and onDelete are the hub's alone; lww and counters change what nodes do.
  assert.equal(catalogue({ policy: 'merge' }).version, catalogue({ policy: 'manual', onDelete: 'manual' }).version);
  assert.notEqual(catalogue({ policy: 'merge' }).version, catalogue({ policy: 'lww' }).version);
  assert.notEqual(catalogue({ policy: 'merge' }).version, catalogue({ columns: { quantity: 'counter' } }).version);
  assert.equal(catalogue({}).byName.get('items')!.onDelete, undefined, 'delete-wins is the default');
});

test('config: policies a table cannot take are refused, naming the field', () => {
  refused(() => parseHubConfig({ tables: { items: { policy: 'custom' } } }), /tables\.items\.resolver: a custom policy needs a resolver module/);
  refused(() => parseHubConfig({ tables: { items: { columns: { notes: 'custom' } } } }), /resolver/);
  refused(() => parseHubConfig({ tables: { items: { resolver: './r.mjs' } } }), /used only by a custom policy/);
  refused(() => parseHubConfig({ tables: { items: { policy: 'newest' } } }), /tables\.items\.policy/);
  refused(() => parseHubConfig({ tables: { items: { columns: { quantity: 'sum' } } } }), /tables\.items\.columns\.quantity/);
  refused(() => parseHubConfig({ tables: { items: { onDelete: 'never' } } }), /tables\.items\.onDelete/);
  refused(() => catalogue({ columns: { nope: 'manual' } }), /tables\.items\.columns\.nope: no such column/);
  refused(() => catalogue({ columns: { id: 'manual' } }), /a key column cannot have a policy/);
  refused(() => catalogue({ columns: { notes: 'counter' } }), /a counter must be an INTEGER NOT NULL column \(items\.notes is TEXT, nullable\)/);
  refused(() => catalogue({ columns: { reserved: 'counter' } }), /INTEGER NOT NULL/);
});

test('config: a resolver module that cannot be loaded, or exports no function, stops the hub at start', async () => {
  const config = (resolver: string) => parseHubConfig({ tables: { items: { policy: 'custom', resolver } } });
  await assert.rejects(loadResolvers(config('/nonexistent/resolver.mjs')), (e: OutpostError) => e.code === 'CONFIG_INVALID' && /cannot load/.test(e.message));
  await assert.rejects(loadResolvers(config('node:os')), (e: OutpostError) => e.code === 'CONFIG_INVALID' && /exports no function/.test(e.message));
  const ok = await loadResolvers(config(new URL('../../examples/oims/resolvers/items.mjs', import.meta.url).pathname));
  assert.equal(typeof ok.get('items'), 'function');
});
