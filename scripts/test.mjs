#!/usr/bin/env node
// Runs every test file under test/ with Node's test runner (Node 20 does not
// expand globs for --test, so the files are listed here).
//
// A test file that needs a database server says so in its name:
// `*.mysql.test.ts` (MariaDB/MySQL on 127.0.0.1:3306), `*.postgres.test.ts`
// (PostgreSQL on 127.0.0.1:5432), or both (`*.mysql.postgres.test.ts`). When that server is unreachable those files
// are skipped and named, unless OUTPOST_REQUIRE_SERVERS=1 (CI sets it), which
// makes an unreachable server an error.
//
//   npm test                 every file
//   npm test -- e2e hlc      only files whose path contains one of the words
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);
const SERVERS = {
  mysql: { name: 'MariaDB/MySQL', port: 3306 },
  postgres: { name: 'PostgreSQL', port: 5432 },
};

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'helpers' ? [] : walk(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

function reachable(port) {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, timeout: 2000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

let files = walk(join(root, 'test')).sort();
if (only.length) files = files.filter((f) => only.some((o) => relative(root, f).includes(o)));
const skipped = [];
for (const [kind, s] of Object.entries(SERVERS)) {
  const needing = files.filter((f) => f.replace(/\.test\.ts$/, '').split('/').pop().split('.').slice(1).includes(kind));
  if (needing.length === 0 || (await reachable(s.port))) continue;
  if (process.env.OUTPOST_REQUIRE_SERVERS === '1') {
    console.error(`${s.name} is not reachable on 127.0.0.1:${s.port}, and OUTPOST_REQUIRE_SERVERS=1 forbids skipping its suites`);
    process.exit(1);
  }
  skipped.push(`${s.name} unreachable on 127.0.0.1:${s.port}: skipped ${needing.map((f) => relative(root, f)).join(', ')}`);
  files = files.filter((f) => !needing.includes(f));
}
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// The longest files start first, so that the run does not end with them
// alone: the torture suite's in-process scenarios, then the other tiers
// that take minutes. Most files wait on databases and HTTP more than they
// compute, so three run at a time on two cores (OUTPOST_TEST_CONCURRENCY).
const FIRST = ['sqlite-scenarios-a', 'sqlite-scenarios-b', 'mixed-scenarios', 'every-step', 'hub-concurrency', 'processes', 'property'];
const rank = (f) => {
  const i = FIRST.findIndex((w) => f.includes(w));
  return i < 0 ? FIRST.length : i;
};
files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const concurrency = Number(process.env.OUTPOST_TEST_CONCURRENCY ?? 3);
console.log(`running ${files.length} test files, ${concurrency} at a time`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files.map((f) => relative(root, f))], {
  cwd: root,
  stdio: 'inherit',
});
for (const line of skipped) console.log(`SKIPPED SUITES: ${line}`);
process.exit(r.status ?? 1);
