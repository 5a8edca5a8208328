import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ZodError } from 'zod';
import {
  changeSchema, isChange, isSnapshotRow, isWireValue, parsePushRequest, parseSnapshotLine, pushRequestSchema, snapshotLineSchema, wireValueSchema,
} from '../../src/protocol/index.ts';

const goodHlc = fc.tuple(fc.stringMatching(/^\d{15}$/), fc.stringMatching(/^[0-9a-f]{8}$/), fc.string({ minLength: 1, maxLength: 64 })).map(([w, c, n]) => `${w}-${c}-${n}`);
const badHlc = fc.oneof(fc.string(), goodHlc.map((h) => h + 'x'.repeat(64)), goodHlc.map((h) => h.toUpperCase() + 'G'), goodHlc.map((h) => `${h}\n`), fc.constant(5));
const goodWire = fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.string(), fc.record({ $b: fc.base64String() }), fc.record({ $n: fc.stringMatching(/^-?\d{1,40}$/) }));
const badWire = fc.oneof(
  fc.constantFrom(Number.NaN, Infinity, undefined, { $x: 'a' }, [], { $b: 'a', $n: '1' }, { $n: '1'.repeat(41) }, { $n: '1.5' }, { $b: 'a-b' }, { $b: 1 }, new Date(0)),
  fc.record({ $b: fc.string() }), fc.record({ $n: fc.string() }),
);
const wire = fc.oneof({ arbitrary: goodWire, weight: 4 }, { arbitrary: badWire, weight: 1 });
const goodKey = fc.constantFrom('id', 'name', 'x'.repeat(128), 'constructor', 'ü');
const badKey = fc.constantFrom('', 'x'.repeat(129), '__proto__');
const goodChange = fc.record(
  {
    table: fc.constantFrom('items', 'x'.repeat(128)),
    pk: fc.array(goodWire, { minLength: 1, maxLength: 16 }),
    op: fc.constantFrom('I', 'U', 'D'),
    hlc: goodHlc,
    cols: fc.dictionary(goodKey, goodWire, { maxKeys: 4 }),
    colHlc: fc.dictionary(goodKey, goodHlc, { maxKeys: 3 }),
    origin: fc.string(),
    restate: fc.constant(true),
  },
  { requiredKeys: ['table', 'pk', 'op', 'hlc'] },
);
const hlc = fc.oneof({ arbitrary: goodHlc, weight: 4 }, { arbitrary: badHlc, weight: 1 });
const key = fc.oneof({ arbitrary: goodKey, weight: 4 }, { arbitrary: badKey, weight: 1 });
/** A valid change, or one with exactly one part made bad (or odd): each rule of the schema is tried on its own. */
const change = fc.tuple(goodChange, fc.nat(15), badHlc, badWire, badKey, fc.anything()).map(([c, which, h, w, k, any]) => {
  const x: Record<string, unknown> = { ...c };
  switch (which) {
    case 0: x.table = ['', 'x'.repeat(129), 5][c.pk.length % 3]; break;
    case 1: x.pk = [...c.pk.slice(0, 15), w]; break;
    case 2: x.pk = []; break;
    case 13: x.pk = [...Array(17).keys()]; break;
    case 3: x.op = 'X'; break;
    case 4: x.hlc = h; break;
    case 5: x.cols = { ...c.cols, [k]: 1 }; break;
    case 6: x.cols = { ...c.cols, id: w }; break;
    case 7: x.colHlc = { ...c.colHlc, [k]: c.hlc }; break;
    case 8: x.colHlc = { ...c.colHlc, id: h }; break;
    case 9: x.origin = 7; break;
    case 10: x.restate = false; break;
    case 11: x.extra = any; break;
    case 12: x.cols = any; break;
    default: break; // valid
  }
  return x;
});

test('the fast checks accept only what the zod schemas accept, unchanged', () => {
  fc.assert(
    fc.property(fc.oneof(wire, fc.anything()), (v) => {
      if (isWireValue(v)) assert.ok(wireValueSchema.safeParse(v).success, JSON.stringify(v));
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.oneof({ arbitrary: change, weight: 5 }, { arbitrary: fc.anything(), weight: 1 }), (c) => {
      const z = changeSchema.safeParse(c);
      if (!isChange(c)) return;
      assert.ok(z.success, JSON.stringify(c));
      assert.deepEqual(z.data, c, 'zod would strip or change nothing');
    }),
    { numRuns: 5000 },
  );
  const row = fc.record({ type: fc.constantFrom('row', 'end'), table: fc.oneof(fc.string(), fc.integer()), values: fc.array(wire, { maxLength: 4 }), hlc, colHlc: fc.dictionary(key, hlc, { maxKeys: 2 }), rows: fc.integer() }, { requiredKeys: [] });
  fc.assert(
    fc.property(fc.oneof(row, fc.anything()), (l) => {
      if (!isSnapshotRow(l)) return;
      const z = snapshotLineSchema.safeParse(l);
      assert.ok(z.success, JSON.stringify(l));
      assert.deepEqual(z.data, l);
    }),
    { numRuns: 3000 },
  );
});

test('well-formed changes and rows take the fast path; parsePushRequest and parseSnapshotLine answer as zod does', () => {
  const valid = { table: 'items', pk: [1, { $n: '123456789012345678901' }], op: 'U' as const, hlc: '000000000000001-0000000a-node-1', cols: { name: 'ü', qty: 2.5, b: { $b: 'AAE=' }, n: null, f: false }, colHlc: { name: '000000000000002-00000000-hub' } };
  assert.ok(isChange(valid));
  assert.ok(isSnapshotRow({ type: 'row', table: 'items', values: [1, 'a', null], hlc: valid.hlc }));
  const envelope = { from: 0, to: 3, page: 0, pages: 1, cursor: 0, clock: valid.hlc };
  assert.deepEqual(parsePushRequest({ ...envelope, changes: [valid] }), pushRequestSchema.parse({ ...envelope, changes: [valid] }));
  fc.assert(
    fc.property(fc.array(fc.oneof(change, fc.constant(valid)), { maxLength: 3 }), fc.constantFrom(envelope, { ...envelope, to: 0 }, { ...envelope, page: 1 }, { ...envelope, extra: 1 }), (changes, env) => {
      const body = { ...env, changes };
      const z = pushRequestSchema.safeParse(body);
      let fast: unknown;
      try {
        fast = parsePushRequest(body);
      } catch (e) {
        assert.ok(e instanceof ZodError);
        assert.ok(!z.success, 'refused only what zod refuses');
        assert.deepEqual(e.issues, z.error.issues, 'with zod\'s own issues');
        return;
      }
      assert.ok(z.success);
      assert.deepEqual(fast, z.data);
    }),
    { numRuns: 2000 },
  );
  for (const line of [{ type: 'end', rows: 3 }, { type: 'row', table: 't', values: [], hlc: 'bad' }, { type: 'row', table: 't', values: [], hlc: valid.hlc, junk: 1 }]) {
    const z = snapshotLineSchema.safeParse(line);
    if (z.success) assert.deepEqual(parseSnapshotLine(line), z.data);
    else assert.throws(() => parseSnapshotLine(line), ZodError);
  }
});
