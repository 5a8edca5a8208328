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
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { build } from 'esbuild';

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
// The torture suite's two long in-process files (minutes of CPU each) run
// in a runner of their own, beside the one for every other file, so the two
// overlap; their report is printed after the main one, then one closing line
// for both (OUTPOST_TEST_CONCURRENCY: files at a time in the main runner,
// default 2).
const LONG = ['sqlite-scenarios-a', 'sqlite-scenarios-b'];
const long = files.filter((f) => LONG.some((w) => f.includes(w)));
const rest = files.filter((f) => !long.includes(f));
// Two at a time: three (with the slowest files first) oversubscribed both
// cores beside the torture runner, and a fresh-clone CI run took longer.
const concurrency = Number(process.env.OUTPOST_TEST_CONCURRENCY ?? 2);
console.log(`running ${files.length} test files: ${rest.length} (${concurrency} at a time)${long.length ? ` beside ${long.length} long torture files` : ''}`);

const timesDir = mkdtempSync(join(tmpdir(), 'outpost-test-times-'));

// Tests that run the `outpost` command spawn it hundreds of times. Through
// bin/outpost.js each start registers tsx's loader (0.35 s of CPU of its
// own); the same sources compiled once by esbuild (tsx's own compiler), into
// a folder of the repository so node_modules resolves, start in 0.1 s.
// test/helpers/cli.ts runs this build when OUTPOST_TEST_CLI names it; the
// `npm start` test still runs bin/outpost.js itself.
mkdirSync(join(root, '.tmp'), { recursive: true });
const cliDir = mkdtempSync(join(root, '.tmp', 'test-cli-'));
await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outdir: cliDir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
// The build sits two folders below the root, as src/cli does: paths it takes from import.meta.url stay right.
process.env.OUTPOST_TEST_CLI = join(cliDir, 'main.js');
let runNumber = 0;

/** One `node --test` run; resolves with its exit code, its pass/fail counts and each file's time. */
function runner(list, n, out) {
  const times = join(timesDir, `${runNumber++}.json`);
  return new Promise((resolve) => {
    const reporters = ['--test-reporter=tap', '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'scripts/file-times-reporter.mjs')}`, `--test-reporter-destination=${times}`];
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${n}`, ...reporters, ...list.map((f) => relative(root, f))], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (c) => {
      text += c.toString();
      out(c);
    });
    child.on('close', (code) => {
      const count = (what) => Number(/^# (?:pass|fail|skipped) /m.test(text) ? ([...text.matchAll(new RegExp(`^# ${what} (\\d+)$`, 'gm'))].at(-1)?.[1] ?? 0) : 0);
      // A test that timed out is reported as cancelled, not failed: it counts as failed here.
      let fileMs = {};
      try {
        fileMs = JSON.parse(readFileSync(times, 'utf8'));
      } catch {
        // no times (the runner died before its end): the summary goes without them
      }
      resolve({ code: code ?? 1, pass: count('pass'), fail: count('fail') + count('cancelled'), skipped: count('skipped'), fileMs });
    });
  });
}
const held = [];
const started = Date.now();
const runs = [runner(rest, concurrency, (c) => process.stdout.write(c))];
if (long.length) runs.push(runner(long, long.length, (c) => held.push(c)));
const [main, torture] = await Promise.all(runs);
rmSync(timesDir, { recursive: true, force: true });
rmSync(cliDir, { recursive: true, force: true });
if (torture) {
  for (const c of held) process.stdout.write(c);
}
const all = [main, torture].filter(Boolean);
const slowest = all.flatMap((r) => Object.entries(r.fileMs)).sort((a, b) => b[1] - a[1]).slice(0, 15);
if (slowest.length) {
  console.log(`where the time went: the files defining the slowest tests (their tests' time summed; ${((Date.now() - started) / 1000).toFixed(0)} s in all, ${concurrency} files at a time):`);
  for (const [f, ms] of slowest) console.log(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(root, f)}`);
}
for (const line of skipped) console.log(`SKIPPED SUITES: ${line}`);
const sum = (k) => all.reduce((n, r) => n + r[k], 0);
console.log(`tests: ${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped`);
process.exit(all.some((r) => r.code !== 0) ? 1 : 0);
