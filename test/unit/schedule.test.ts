import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cron } from 'croner';
import { Scheduler, parseEvery, parseQuietHours, type QuietHours } from '../../src/node/schedule.ts';
import { runLoop } from '../../src/node/run-loop.ts';
import { OutpostError } from '../../src/protocol/index.ts';
import type { SyncSummary } from '../../src/node/agent.ts';

const MIN = 60_000;
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Santiago'];

const formats = new Map<string, Intl.DateTimeFormat>();
/** The oracle: local HH:MM at `ms` read from a formatted en-GB time string (not the scheduler's formatToParts), and the quiet rule written out. */
function quietAt(q: QuietHours, zone: string, ms: number): boolean {
  let f = formats.get(zone);
  if (!f) formats.set(zone, (f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hour12: false })));
  const [h, m] = f.format(ms).split(':').map(Number) as [number, number];
  const t = (h % 24) * 60 + m;
  return q.start < q.end ? t >= q.start && t < q.end : t >= q.start || t < q.end;
}

test('flags: --every, --quiet-hours, --cron and the time zone are checked', () => {
  assert.equal(parseEvery('30m'), 30 * MIN);
  assert.equal(parseEvery('90s'), 90_000);
  assert.equal(parseEvery('2h'), 120 * MIN);
  for (const bad of ['0s', '30', '5x', '-1m', '31d', '1.5h']) assert.throws(() => parseEvery(bad), (e: unknown) => e instanceof OutpostError && e.code === 'BAD_REQUEST', bad);
  assert.deepEqual(parseQuietHours('22:00-06:00'), { start: 22 * 60, end: 6 * 60 });
  assert.deepEqual(parseQuietHours('9:30-17:00'), { start: 9 * 60 + 30, end: 17 * 60 });
  for (const bad of ['22-06', '24:00-06:00', '22:60-06:00', '08:00-08:00', 'night']) assert.throws(() => parseQuietHours(bad), (e: unknown) => e instanceof OutpostError && e.code === 'BAD_REQUEST', bad);
  assert.throws(() => new Scheduler({ kind: 'cron', expression: '61 * * * *' }), /--cron/);
  assert.throws(() => new Scheduler({ kind: 'interval', everyMs: MIN }, null, 'Mars/Olympus'), /IANA/);
  // A cron that only fires inside the quiet hours would never sync.
  assert.throws(() => new Scheduler({ kind: 'cron', expression: '0 23 * * *' }, parseQuietHours('22:00-06:00'), 'UTC'), /no slot outside the quiet hours/);
});

test('quiet hours hold an interval sync until they end, in local time, across a daylight-saving change', () => {
  const s = new Scheduler({ kind: 'interval', everyMs: 30 * MIN }, parseQuietHours('22:00-06:00'), 'Europe/Berlin');
  // 21:50 local (CET, UTC+1) + 30 min = 22:20, quiet: held until 06:00 local,
  // which on 2024-03-31 is CEST (UTC+2), so 04:00 UTC.
  const ended = Date.parse('2024-03-30T20:50:00Z');
  assert.equal(new Date(s.next(ended, ended)!).toISOString(), '2024-03-31T04:00:00.000Z');
  // outside quiet hours, just the interval
  const day = Date.parse('2024-03-31T10:00:00Z');
  assert.equal(s.next(day, day), day + 30 * MIN);
  // a cron with quiet hours: the first slot after they end
  const c = new Scheduler({ kind: 'cron', expression: '15,45 * * * *' }, parseQuietHours('22:00-06:00'), 'Europe/Berlin');
  assert.equal(new Date(c.first(ended + 40 * MIN)!).toISOString(), '2024-03-31T04:15:00.000Z');
  assert.equal(new Date(c.next(day, day)!).toISOString(), '2024-03-31T10:15:00.000Z');
  // the retry of a failed sync is held too
  assert.equal(new Date(s.retry(Date.parse('2024-03-30T23:00:00Z'))).toISOString(), '2024-03-31T04:00:00.000Z');
});

test('property: the next scheduled sync is never inside quiet hours, and never later than the first allowed time', () => {
  const hhmm = fc.integer({ min: 0, max: 24 * 60 - 1 });
  // quiet hours of 1 minute to 23 hours, wrapping midnight or not (a long one refuses many daily crons, which is slow to establish)
  const quiet = fc.tuple(hhmm, fc.integer({ min: 1, max: 23 * 60 })).map(([start, len]) => ({ start, end: (start + len) % (24 * 60) }));
  const cron = fc.oneof(
    fc.integer({ min: 1, max: 59 }).map((n) => `*/${n} * * * *`),
    fc.tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 23 })).map(([m, h]) => `${m} ${h} * * *`),
    fc.tuple(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 1, max: 12 })).map(([m, h]) => `${m} */${h} * * 1-5`),
  );
  const schedule = fc.oneof(
    fc.integer({ min: 1, max: 2 * 24 * 60 * 60 }).map((s) => ({ kind: 'interval' as const, everyMs: s * 1000 })),
    cron.map((expression) => ({ kind: 'cron' as const, expression })),
  );
  // 2000 to 2099, to the millisecond
  // and, half the time, within a day and a half of a daylight-saving change of the zone
  const DST: [string, string][] = [
    ['Europe/Berlin', '2024-03-31T01:00Z'], ['Europe/Berlin', '2024-10-27T01:00Z'], ['America/New_York', '2024-03-10T07:00Z'], ['America/New_York', '2024-11-03T06:00Z'],
    ['Australia/Lord_Howe', '2024-04-06T15:00Z'], ['Australia/Lord_Howe', '2024-10-05T15:30Z'], ['America/Santiago', '2024-04-07T03:00Z'], ['America/Santiago', '2024-09-08T04:00Z'],
  ];
  const zoneAndTime = fc.oneof(
    fc.tuple(fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31) })),
    fc.tuple(fc.constantFrom(...DST), fc.integer({ min: -36 * 60 * MIN, max: 36 * 60 * MIN })).map(([[zone, t], d]) => [zone, Date.parse(t) + d] as [string, number]),
  );
  let checked = 0;
  fc.assert(
    fc.property(schedule, quiet, zoneAndTime, (sch, q, [zone, now]) => {
      let s: Scheduler;
      try {
        s = new Scheduler(sch, q, zone);
      } catch (e) {
        // only a cron with no slot outside quiet hours may be refused
        assert.ok(sch.kind === 'cron' && /no slot outside/.test((e as Error).message), (e as Error).message);
        return;
      }
      checked++;
      const isQuiet = (t: number): boolean => quietAt(q, zone, t);
      // isQuiet agrees with the oracle
      assert.equal(s.isQuiet(now), isQuiet(now));
      // the end of quiet hours: not quiet, and every minute before it down to now is
      const end = s.quietEnd(now);
      assert.ok(end >= now && !isQuiet(end));
      if (end > now) {
        assert.ok(isQuiet(end - 1), 'quietEnd is the first moment after the quiet hours');
        // every minute between now and the end is quiet (sampled: each 7th minute)
        for (let t = end - MIN; t > now; t -= 7 * MIN) assert.ok(isQuiet(t), `${new Date(t).toISOString()} in the quiet run`);
      }
      const slot = now - 5 * MIN;
      const next = s.next(now, slot);
      assert.ok(next !== null);
      assert.ok(next >= now, 'never in the past');
      assert.ok(!isQuiet(next), `${new Date(next).toISOString()} is in quiet hours ${s.describeQuiet()} (${zone})`);
      if (sch.kind === 'interval') {
        // exactly the interval, or the end of the quiet hours it fell into
        const due = now + sch.everyMs;
        assert.equal(next, isQuiet(due) ? s.quietEnd(due) : due);
      } else {
        // a slot of the cron, and every earlier slot from now on was quiet:
        // not later than the cron's first slot after the quiet hours end
        const c = new Cron(sch.expression, { timezone: zone, paused: true });
        assert.equal(c.nextRun(new Date(next - 1))!.getTime(), next, 'a cron slot');
        let t = c.nextRun(new Date(now - 1));
        for (let i = 0; t && t.getTime() < next && i < 2000; i++, t = c.nextRun(t)) assert.ok(isQuiet(t.getTime()), `skipped a free slot ${t.toISOString()}`);
        const first = s.first(now)!;
        assert.ok(!isQuiet(first) && first >= now);
        if (!isQuiet(now)) assert.equal(first, now, 'run syncs at once outside quiet hours');
        else assert.ok(first <= c.nextRun(new Date(s.quietEnd(now) - 1))!.getTime() || isQuiet(c.nextRun(new Date(s.quietEnd(now) - 1))!.getTime()));
      }
    }),
    { numRuns: 250 },
  );
  assert.ok(checked > 150, `only ${checked} schedules were accepted`);
});

test('the run loop with an injected clock: syncs at once, holds scheduled syncs in quiet hours, retries with backoff', async () => {
  let clock = Date.parse('2024-06-01T20:00:00Z'); // 20:00 UTC
  const syncedAt: number[] = [];
  let failNext = 0;
  const agent = {
    async sync(): Promise<SyncSummary> {
      syncedAt.push(clock);
      clock += 2000; // a sync takes 2 s
      if (failNext > 0) {
        failNext--;
        throw new OutpostError('HUB_UNREACHABLE', 'down');
      }
      return { pushed: 0, pulled: 0, conflicts: 0, snapshotRows: 0, cursor: 0, durationMs: 2000, quarantined: 0 };
    },
  };
  const ctrl = new AbortController();
  const nexts: (number | null)[] = [];
  const s = new Scheduler({ kind: 'interval', everyMs: 60 * MIN }, parseQuietHours('22:00-06:00'), 'UTC');
  const errors: number[] = [];
  await runLoop(agent, {
    scheduler: s,
    signal: ctrl.signal,
    now: () => clock,
    random: () => 0.5,
    sleep: async (ms) => {
      clock += ms;
      if (syncedAt.length === 1) failNext = 2; // the second and third tries fail
      if (syncedAt.length >= 8) ctrl.abort();
    },
    onNext: (at) => nexts.push(at),
    onError: (_e, ms) => errors.push(ms),
  });
  const iso = syncedAt.map((t) => new Date(t).toISOString().slice(11, 19));
  // 20:00 at once; 21:00:02 fails, retried after 1 s (0.75 s with this jitter rounding) and 2 s,
  // then hourly from the end of the last sync, and nothing between 22:00 and 06:00.
  assert.equal(iso[0], '20:00:00');
  assert.equal(iso[1], '21:00:02');
  assert.deepEqual(errors, [750, 1500]);
  for (const t of syncedAt) assert.ok(!s.isQuiet(t), `synced in quiet hours at ${new Date(t).toISOString()}`);
  assert.ok(syncedAt.some((t) => new Date(t).toISOString().endsWith('T06:00:00.000Z')), `resumed at 06:00: ${syncedAt.map((t) => new Date(t).toISOString()).join(', ')}`);
  assert.equal(nexts.at(-1), null, 'the loop says when it stops');
});

test('the run loop stops on an error waiting will not mend', async () => {
  const agent = { sync: async (): Promise<SyncSummary> => { throw new OutpostError('UNAUTHORIZED', 'revoked'); } };
  await assert.rejects(runLoop(agent, { intervalMs: 1000, sleep: async () => undefined }), /revoked/);
});
