/**
 * The torture suite's command line:
 *
 *   npm run torture -- --runs 200 --seed 42        200 runs, seeds 42…241
 *   npm run torture -- --seed 1234 --runs 1        replay one failing seed
 *   npm run torture -- --dialects sqlite,mysql,postgres
 *   npm run torture:soak -- --minutes 60          runs until the time is up, then records the result in docs/reliability.md
 *
 * Every run prints its seed; a failing run prints what failed and how to replay it.
 */
import { parseArgs } from 'node:util';
import { cpus, totalmem } from 'node:os';
import type { DialectName } from '../helpers/replicas.ts';
import { runScenario, type RunResult } from './runner.ts';
import { scenarioFor } from './scenario.ts';
import { recordSoak } from './soak-record.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100' },
    seed: { type: 'string' },
    dialects: { type: 'string', default: 'sqlite' },
    steps: { type: 'string', default: '40' },
    minutes: { type: 'string' },
    record: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`npm run torture -- [--runs N] [--seed S] [--dialects sqlite,mysql,postgres] [--steps N] [--minutes M] [--record FILE] [--quiet]`);
  process.exit(0);
}

const dialects = values.dialects!.split(',').map((d) => d.trim()) as DialectName[];
for (const d of dialects) if (!['sqlite', 'mysql', 'postgres'].includes(d)) throw new Error(`unknown dialect ${d}`);
const first = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const runs = Number(values.runs);
const deadline = values.minutes ? Date.now() + Number(values.minutes) * 60_000 : null;
const opts = { dialects, maxSteps: Number(values.steps) };

const started = Date.now();
const failed: RunResult[] = [];
let done = 0;
let faults = 0;
let expired = 0;
let slowest = 0;
console.log(`torture: first seed ${first}, ${deadline ? `for ${values.minutes} min` : `${runs} runs`}, dialects ${dialects.join('+')}, up to ${opts.maxSteps} steps`);
for (let seed = first; deadline ? Date.now() < deadline : seed < first + runs; seed++) {
  const sc = scenarioFor(seed, opts);
  const r = await runScenario(sc);
  done++;
  faults += Object.values(r.faults).reduce((a, b) => a + b, 0);
  expired += r.events['labs expired'] ?? 0;
  slowest = Math.max(slowest, r.convergeMs);
  if (!values.quiet || !r.ok) {
    const shape = `hub ${sc.world.hub}, labs ${sc.world.nodes.map((n) => `${n.dialect}${n.skewMs ? `(${n.skewMs > 0 ? '+' : ''}${n.skewMs / 3_600_000}h)` : ''}`).join(' ')}`;
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} seed ${seed} (${shape}; ${r.steps} steps, ${r.writes} writes, ${r.syncs.ok}/${r.syncs.ok + r.syncs.failed} syncs ok, faults ${JSON.stringify(r.faults)}, ${JSON.stringify(r.events)}, converged in ${r.convergeMs} ms, ${r.durationMs} ms)`);
  }
  if (!r.ok) {
    failed.push(r);
    for (const f of r.failures.slice(0, 10)) console.log(`     ${f}`);
    console.log(`     replay: npm run torture -- --seed ${seed} --runs 1 --dialects ${dialects.join(',')} --steps ${opts.maxSteps}`);
  }
}
const seconds = (Date.now() - started) / 1000;
console.log(`torture: ${done} runs, ${failed.length} failed, ${faults} faults injected, ${expired} labs expired past the horizon, slowest convergence ${slowest} ms, ${seconds.toFixed(0)} s`);
if (failed.length) console.log(`failing seeds: ${failed.map((r) => r.seed).join(' ')}`);
if (values.record) {
  recordSoak(values.record, {
    runs: done, failed: failed.map((r) => r.seed), firstSeed: first, lastSeed: first + done - 1, seconds, dialects, steps: opts.maxSteps, faults,
    machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  });
  console.log(`recorded in ${values.record}`);
}
process.exit(failed.length ? 1 : 0);
