import fc from 'fast-check';
import type { DialectName } from '../helpers/replicas.ts';
import type { Endpoint } from './http-faults.ts';
import type { FaultKind } from './fault-proxy.ts';
import type { WriteOp } from './workload.ts';
import type { WorldSpec } from './world.ts';

/** One step of a run. Node numbers are 1-based; 0 in `write.at` is the website. */
export type Step =
  | { kind: 'write'; at: number; ops: WriteOp[] }
  | { kind: 'sync'; node: number }
  /** several labs sync at the same time */
  | { kind: 'sync-many'; nodes: number[] }
  /** a lab's app writes while that lab syncs */
  | { kind: 'write-during-sync'; node: number; ops: WriteOp[] }
  /** a new lab joins (its first snapshot under whatever faults are on) */
  | { kind: 'join' }
  /** a lab's row is changed behind Outpost's back (a restored backup, a hand edit with triggers off): verify must find and repair it */
  | { kind: 'tamper'; node: number; pick: number }
  | { kind: 'offline'; node: number; on: boolean }
  /**
   * the node's next `times` requests to the endpoint meet the fault, in its
   * fault proxy (a request whose connection dies before any reply is sent
   * once more, so one drop alone is retried)
   */
  | { kind: 'net'; node: number; fault: FaultKind; endpoint?: Endpoint; times: number; delayMs: number }
  /** the component's n-th database call from now fails (once, or until healed); then it is restarted as after a crash */
  | { kind: 'crash'; node: number /* 0: the hub */; afterCalls: number; mode: 'once' | 'until-healed' }
  | { kind: 'restart-hub' }
  /** the hub purges what every live lab has pulled (labs away longer than the horizon expire) */
  | { kind: 'purge' }
  /** every clock jumps ahead (past the retention horizon, sometimes) */
  | { kind: 'time'; hours: number }
  | { kind: 'heal' };

export interface Scenario {
  seed: number;
  world: WorldSpec;
  steps: Step[];
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface ScenarioOptions {
  /** dialects to draw the hub and the nodes from */
  dialects: readonly DialectName[];
  /** steps per run */
  maxSteps: number;
}

const op = (at: number): fc.Arbitrary<WriteOp> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('insert' as const), children: fc.nat(2), qty: fc.nat(100), note: fc.nat(50) }) },
    { weight: 6, arbitrary: fc.record({ op: fc.constant('update' as const), pick: fc.nat(), set: fc.uniqueArray(fc.record({ col: fc.constantFrom('quantity' as const, 'notes' as const, 'status' as const, 'unit_price' as const, 'name' as const), value: fc.integer({ min: -5, max: 400 }) }), { minLength: 1, maxLength: 3, selector: (s) => s.col }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('reinsert' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('move' as const), pick: fc.nat(), value: fc.nat(99) }) },
    { weight: at === 0 ? 1 : 0, arbitrary: fc.record({ op: fc.constant('lab' as const), pick: fc.nat(), value: fc.nat(99) }) },
  );

function stepArb(nodes: number): fc.Arbitrary<Step> {
  // Numbers beyond the labs there are name labs that join later (taken modulo the labs there are).
  const node = fc.integer({ min: 1, max: nodes + 1 });
  return fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 0, max: nodes + 1 }).chain((at) => fc.record({ kind: fc.constant('write' as const), at: fc.constant(at), ops: fc.array(op(at), { minLength: 1, maxLength: 4 }) })) },
    { weight: 7, arbitrary: fc.record({ kind: fc.constant('sync' as const), node }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sync-many' as const), nodes: fc.uniqueArray(node, { minLength: 2, maxLength: nodes + 1 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('write-during-sync' as const), node, ops: fc.array(op(1), { minLength: 1, maxLength: 4 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'join' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tamper' as const), node, pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('offline' as const), node, on: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('net' as const), node, fault: fc.constantFrom<FaultKind>('drop', 'reset-request', 'reset-response', 'lose-reply', 'duplicate', 'delay'), endpoint: fc.option(fc.constantFrom<Endpoint>('handshake', 'push', 'pull', 'snapshot'), { nil: undefined }), times: fc.integer({ min: 1, max: 3 }), delayMs: fc.constantFrom(5, 50, 300) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: fc.integer({ min: 0, max: nodes }), afterCalls: fc.integer({ min: 1, max: 40 }), mode: fc.constantFrom('once' as const, 'once' as const, 'until-healed' as const) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'restart-hub' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'purge' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), hours: fc.constantFrom(1, 6, 25, 49) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'heal' as const }) },
  );
}

export function scenarioArb(o: ScenarioOptions): fc.Arbitrary<Omit<Scenario, 'seed'>> {
  const dialect = fc.constantFrom(...o.dialects);
  return fc.integer({ min: 2, max: 4 }).chain((k) =>
    fc.record({
      world: fc.record({
        hub: dialect,
        nodes: fc.array(fc.record({ dialect, skewMs: fc.constantFrom(-DAY, -HOUR, 0, 0, 0, HOUR, DAY) }), { minLength: k, maxLength: k }),
        policy: fc.constantFrom('merge' as const, 'merge' as const, 'lww' as const),
        pullPage: fc.constantFrom(1, 3, 10, 5000),
        pageSize: fc.constantFrom(1, 2, 7, 5000),
      }),
      steps: fc.array(stepArb(k), { minLength: Math.min(8, o.maxSteps), maxLength: o.maxSteps }),
    }),
  );
}

/** The run a seed stands for: the same seed (and options) always gives the same scenario. */
export function scenarioFor(seed: number, o: ScenarioOptions): Scenario {
  const [s] = fc.sample(scenarioArb(o), { seed, numRuns: 1 });
  return { seed, ...s! };
}
