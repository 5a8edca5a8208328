// The benchmark harness's own pieces (bench/): they decide what the figures
// say, so they are checked like product code. No timings are asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, medians } from '../../bench/stats.ts';
import { countingProxy } from '../../bench/proxy.ts';
import { costRow, limitRow, speedRow } from '../../bench/figures/figure.ts';
import { table } from '../../bench/results.ts';
import { upsertItemsSql, itemValues } from '../../bench/items-sql.ts';
import { itemRow } from '../../bench/data.ts';

test('bench stats: the median of odd and even counts, per measurement over runs', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.deepEqual(medians([{ a: 1, b: 10 }, { a: 3 }, { a: 2, b: 30 }]), { a: 2, b: 20 });
});

test('bench rows: ratios and targets go the way each figure needs', () => {
  // throughput: Outpost 2 s against a baseline of 1 s is half the baseline's rows/s
  const speed = speedRow('push', 1000, 2, { name: 'raw', seconds: 1 }, 0.7);
  assert.equal(speed.ratio, '0.50×');
  assert.equal(speed.met, false);
  assert.equal(costRow('bytes', { text: '', value: 105 }, { text: '', value: 100 }, 1.1).met, true);
  assert.equal(limitRow('per change', 65, 'B/change', 64).met, false);
  assert.match(table([speed]), /^\| figure \| Outpost \| baseline \(same run\) \| ratio \| target \| met\? \|\n\| --- /);
});

test('bench SQL: multi-row upserts per dialect; MariaDB gets its DATETIME format', () => {
  assert.match(upsertItemsSql('mysql', 2), /VALUES \(\?(, \?){9}\), \(\?(, \?){9}\) ON DUPLICATE KEY UPDATE lab_id = VALUES\(lab_id\)/);
  assert.match(upsertItemsSql('postgres', 1), /ON CONFLICT \(id\) DO UPDATE SET lab_id = excluded\.lab_id/);
  const row = itemRow(7);
  assert.equal(itemValues(row, 'mysql').at(-1), String(row.updated_at).replace('T', ' ').replace('Z', ''));
  assert.equal(itemValues(row, 'sqlite').at(-1), row.updated_at);
});

test('bench proxy: counts every byte both ways', async (t) => {
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => echo.close());
  const proxy = await countingProxy(`http://127.0.0.1:${(echo.address() as { port: number }).port}`);
  t.after(() => proxy.close());
  const socket = connect(Number(new URL(proxy.url).port), '127.0.0.1');
  const received = await new Promise<number>((resolve) => {
    let n = 0;
    socket.on('data', (c: Buffer) => (n += c.length) === 1500 && resolve(n));
    socket.write(Buffer.alloc(1000));
    socket.write(Buffer.alloc(500));
  });
  socket.destroy();
  assert.equal(received, 1500);
  assert.deepEqual(proxy.counts(), { up: 1500, down: 1500 });
});

test('bench command line: a bad option gets its reason and the usage, exit 2, and nothing runs', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../bench/run.ts', import.meta.url)), ...args], { encoding: 'utf8' });
  for (const [args, reason] of [
    [['--rows', 'abc'], /^bench: --rows must be a positive integer, not abc\n/],
    [['--hub', 'oracle'], /^bench: --hub must be mysql, postgres or both, not oracle\n/],
    [['--only', 'nope'], /^bench: --only names no figure \(nope\)\n/],
    [['--bogus'], /Unknown option '--bogus'/],
  ] as const) {
    const r = run([...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, reason);
    assert.match(r.stderr, /npm run bench -- \[--quick\]/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
  }
});
