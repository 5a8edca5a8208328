import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DialectName } from '../helpers/replicas.ts';
import { runScenario } from './runner.ts';
import { scenarioFor } from './scenario.ts';

export interface TierOptions {
  /** first seed (OUTPOST_TORTURE_SEED moves every tier's seeds) */
  first: number;
  runs: number;
  dialects: DialectName[];
  maxSteps: number;
}

/**
 * A block of seeded in-process runs as one test: it prints how many ran and
 * what they did, and fails with each failing seed's findings and its replay
 * command.
 */
export function tortureTier(name: string, o: TierOptions): void {
  test(name, { timeout: 25 * 60_000 }, async (t) => {
    const shift = Number(process.env.OUTPOST_TORTURE_SEED ?? 0);
    const runs = Math.max(1, Math.round(o.runs * Number(process.env.OUTPOST_TORTURE_SCALE ?? 1)));
    const first = o.first + shift;
    const failures: string[] = [];
    let steps = 0;
    let writes = 0;
    let faults = 0;
    let slowest = 0;
    const started = Date.now();
    for (let seed = first; seed < first + runs; seed++) {
      const r = await runScenario(scenarioFor(seed, { dialects: o.dialects, maxSteps: o.maxSteps }));
      steps += r.steps;
      writes += r.writes;
      faults += Object.values(r.faults).reduce((a, b) => a + b, 0);
      slowest = Math.max(slowest, r.convergeMs);
      if (!r.ok) {
        failures.push(`seed ${seed}:\n  ${r.failures.slice(0, 8).join('\n  ')}\n  replay: npm run torture -- --seed ${seed} --runs 1 --dialects ${o.dialects.join(',')} --steps ${o.maxSteps}`);
      }
    }
    t.diagnostic(`${runs} scenarios (seeds ${first}…${first + runs - 1}, ${o.dialects.join('+')}): ${steps} steps, ${writes} writes, ${faults} faults injected, slowest convergence ${slowest} ms, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    assert.equal(failures.length, 0, `${failures.length} of ${runs} runs failed:\n${failures.join('\n')}`);
  });
}
