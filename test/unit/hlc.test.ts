import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HlcClock, compareHlc, formatHlc, parseHlc } from '../../src/protocol/hlc.ts';

const DAY = 86_400_000;
/** An event a clock sees: its wall clock moves (forwards or backwards), it stamps, or it receives a stamp. */
const event = fc.oneof(
  fc.record({ kind: fc.constant('tick' as const), jump: fc.integer({ min: -DAY, max: DAY }) }),
  fc.record({ kind: fc.constant('tickAt' as const), physical: fc.integer({ min: 0, max: 4e12 }) }),
  fc.record({ kind: fc.constant('receive' as const), wall: fc.integer({ min: 0, max: 4e12 }), counter: fc.integer({ min: 0, max: 0xffffffff }), node: fc.stringMatching(/^[a-z0-9-]{1,12}$/) }),
);

test('HLC: every stamp a clock issues is above every stamp it issued or received before', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4e12 }), fc.array(event, { maxLength: 200 }), (start, events) => {
      let wall = start;
      const clock = new HlcClock('me', () => wall);
      let highest = clock.last;
      for (const e of events) {
        if (e.kind === 'receive') {
          const s = formatHlc(e);
          clock.receive(s);
          if (compareHlc(s, highest) > 0) highest = s;
        } else {
          if (e.kind === 'tick') wall = Math.max(0, wall + e.jump);
          const s = e.kind === 'tick' ? clock.tick() : clock.tick(e.physical);
          assert.ok(compareHlc(s, highest) > 0, `${s} must sort after ${highest}`);
          highest = s;
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('HLC: a clock 24 h behind still stamps after a stamp it has received', () => {
  const ahead = new HlcClock('lab-b', () => 1_700_000_000_000);
  const behind = new HlcClock('lab-a', () => 1_700_000_000_000 - DAY);
  const seen = ahead.tick();
  behind.receive(seen);
  assert.ok(compareHlc(behind.tick(), seen) > 0);
});

test('HLC: string order is the (wall, counter, node) order, and parse inverts format', () => {
  const parts = fc.record({ wall: fc.integer({ min: 0, max: 4e12 }), counter: fc.integer({ min: 0, max: 0xffffffff }), node: fc.stringMatching(/^[a-z0-9-]{1,12}$/) });
  fc.assert(
    fc.property(parts, parts, (a, b) => {
      assert.deepEqual(parseHlc(formatHlc(a)), { ...a });
      const tuple = a.wall - b.wall || a.counter - b.counter || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
      assert.equal(Math.sign(compareHlc(formatHlc(a), formatHlc(b))), Math.sign(tuple));
    }),
    { numRuns: 1000 },
  );
});

test('HLC: the order is total: antisymmetric and transitive, equal only for equal stamps', () => {
  const stamp = fc.record({ wall: fc.integer({ min: 0, max: 1000 }), counter: fc.integer({ min: 0, max: 3 }), node: fc.constantFrom('a', 'b', 'hub') }).map(formatHlc);
  fc.assert(
    fc.property(stamp, stamp, stamp, (a, b, c) => {
      assert.equal(Math.sign(compareHlc(a, b)), -Math.sign(compareHlc(b, a)) || 0);
      assert.equal(compareHlc(a, b) === 0, a === b);
      if (compareHlc(a, b) <= 0 && compareHlc(b, c) <= 0) assert.ok(compareHlc(a, c) <= 0);
    }),
    { numRuns: 1000 },
  );
});

test('HLC: malformed stamps are refused', () => {
  for (const bad of ['', 'x', '1-2-3', '000000000000001-zz-a']) assert.throws(() => parseHlc(bad), RangeError);
  assert.throws(() => new HlcClock(''), RangeError);
});
