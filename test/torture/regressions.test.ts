import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DialectName } from '../helpers/replicas.ts';
import { runScenario } from './runner.ts';
import { scenarioFor } from './scenario.ts';

/**
 * Seeds that found a bug, kept once it was fixed: each must pass for good.
 * (A seed stands for a scenario of this generator; if the generator changes,
 * the seeds are found again by undoing the fix, and the table is updated.)
 */
const SEEDS: { seed: number; dialects: DialectName[]; steps: number; found: string }[] = [
  { seed: 8, dialects: ['sqlite'], steps: 40, found: 'after a hub restart, the next request on a kept-alive connection failed (UND_ERR_SOCKET); fixed: the node sends it once more' },
  { seed: 16, dialects: ['sqlite'], steps: 40, found: 'the same, with lost replies' },
  { seed: 17, dialects: ['sqlite'], steps: 40, found: 'the same, with a lab crashed at a database call' },
];

for (const s of SEEDS) {
  test(`regression seed ${s.seed} (${s.dialects.join('+')}): ${s.found}`, async () => {
    const r = await runScenario(scenarioFor(s.seed, { dialects: s.dialects, maxSteps: s.steps }));
    assert.deepEqual(r.failures, [], `replay: npm run torture -- --seed ${s.seed} --runs 1 --dialects ${s.dialects.join(',')} --steps ${s.steps}`);
  });
}
