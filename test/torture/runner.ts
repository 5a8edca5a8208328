import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { OutpostError } from '../../src/protocol/index.ts';
import { InjectedFault } from './db-faults.ts';
import { checkHistory, converge, History, integrityOf, repair, sampleCursors, tamper, verifyAll } from './oracle.ts';
import type { Scenario, Step } from './scenario.ts';
import { ReplicaWorkload } from './workload.ts';
import { World } from './world.ts';
import { scratchRoot } from './scratch.ts';

export interface RunResult {
  seed: number;
  ok: boolean;
  failures: string[];
  steps: number;
  writes: number;
  syncs: { ok: number; failed: number };
  /** faults that actually happened, by kind */
  faults: Record<string, number>;
  /** other things that happened: rows purged, labs that expired */
  events: Record<string, number>;
  convergeMs: number;
  durationMs: number;
}

/** A run that takes longer than this is stuck (a hang is a failure too). */
const RUN_TIMEOUT_MS = 120_000;

/** Errors a sync may end with while faults are on: the node retries later. */
const EXPECTED_UNDER_FAULTS = new Set(['HUB_UNREACHABLE', 'HUB_ERROR', 'INTERNAL', 'DB_BUSY', 'PUSH_OUT_OF_ORDER']);

/**
 * Run one scenario: build the world, play its steps with their faults, then
 * heal, wait for quiescence and check the oracle. Never throws: what went
 * wrong is in `failures`.
 */
export async function runScenario(sc: Scenario): Promise<RunResult> {
  const started = Date.now();
  const fns: (() => unknown)[] = [];
  const scope = { after: (fn: () => unknown) => void fns.push(fn) };
  const dir = mkdtempSync(join(scratchRoot(), `outpost-torture-${sc.seed}-`));
  const history = new History();
  const result: RunResult = { seed: sc.seed, ok: false, failures: history.failures, steps: sc.steps.length, writes: 0, syncs: { ok: 0, failed: 0 }, faults: {}, events: {}, convergeMs: 0, durationMs: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = play(sc, scope, dir, history, result);
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the run did not finish within ${RUN_TIMEOUT_MS / 1000} s (stuck)`)), RUN_TIMEOUT_MS); });
    await Promise.race([run, timeout]);
  } catch (e) {
    history.failures.push(`run failed: ${(e as Error).stack ?? String(e)}`);
  } finally {
    clearTimeout(timer);
    for (const fn of fns.reverse()) {
      try {
        await fn();
      } catch {
        /* closing after a failure */
      }
    }
    // OUTPOST_TORTURE_KEEP=1 keeps a failing run's databases (SQLite files) to look at.
    if (process.env.OUTPOST_TORTURE_KEEP === '1' && history.failures.length) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  result.writes = history.writes.length;
  result.ok = history.failures.length === 0;
  result.durationMs = Date.now() - started;
  return result;
}

async function play(sc: Scenario, scope: { after: (fn: () => unknown) => void }, dir: string, history: History, result: RunResult): Promise<void> {
  const world = await World.create(scope, sc.world, dir);
  const workloads = [new ReplicaWorkload(0), ...world.nodes.map((n) => new ReplicaWorkload(n.index + 1))];
  const apps = [world.web, ...world.nodes.map((n) => n.app)];
  /** components whose database fails until healed: they restart when it heals */
  const down = new Set<number>();
  const purged = { entries: 0, expired: 0 };
  /** labs whose rows were changed behind Outpost's back */
  const tampered = new Set<number>();
  const firedBefore = (): number[] => [world.hubFaults.fired, ...world.nodes.map((n) => n.faults.fired)];
  const proxyFired = (): Record<string, number> => {
    const sum: Record<string, number> = {};
    for (const n of world.nodes) for (const [k, v] of Object.entries(n.proxy.fired)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  };
  const faultTotal = (): number =>
    world.hubFaults.fired + world.nodes.reduce((s, n) => s + n.faults.fired, 0) +
    Object.entries(proxyFired()).reduce((a, [k, v]) => a + (k === 'delay' ? 0 : v), 0) + partitioned();
  /** a partition counts as a fault for as long as it lasts */
  const partitioned = (): number => world.nodes.filter((n) => n.proxy.partitioned).length;

  const restart = async (who: number, step: number): Promise<void> => {
    // A process whose start fails (an armed fault hit it) is started again,
    // as a supervisor would; while its database keeps failing it stays down.
    for (let attempt = 1; ; attempt++) {
      try {
        await (who === 0 ? world.restartHub() : world.restartNode(who - 1));
        break;
      } catch (e) {
        if (!(e instanceof InjectedFault)) throw e;
        if (attempt >= 3) {
          down.add(who);
          return;
        }
      }
    }
    if (who === 0) {
      const check = integrityOf(world.web.url);
      if (check !== 'ok') history.failures.push(`step ${step}: the hub's SQLite file after a crash: ${check}`);
    } else {
      const check = integrityOf(world.nodes[who - 1]!.url);
      if (check !== 'ok') history.failures.push(`step ${step}: lab-${who}'s SQLite file after a crash: ${check}`);
    }
  };
  const healAll = async (step: number): Promise<void> => {
    world.heal();
    const restarting = [...down].sort();
    down.clear();
    for (const who of restarting) await restart(who, step);
  };

  /** A lab's number in a step, among the labs there are now (1-based). */
  const lab = (n: number): number => ((n - 1) % world.nodes.length) + 1;
  /** One lab's sync; a failure must be one the faults explain. */
  const sync = async (who: number, step: number, faultsBefore: number): Promise<void> => {
    const n = world.nodes[who - 1]!;
    if (down.has(who)) return; // its process is not running
    try {
      await n.agent.sync();
      history.ack(who, step);
      result.syncs.ok++;
    } catch (e) {
      result.syncs.failed++;
      const code = e instanceof OutpostError ? e.code : e instanceof InjectedFault ? 'INJECTED' : null;
      const explained = faultTotal() > faultsBefore || down.size > 0 || code === 'INJECTED' || n.proxy.partitioned;
      if (!explained || !code || (code !== 'INJECTED' && !EXPECTED_UNDER_FAULTS.has(code))) {
        history.failures.push(`step ${step}: lab-${who} sync failed with no fault to explain it: ${(e as Error).stack ?? e}`);
      }
    }
  };

  for (let i = 0; i < sc.steps.length; i++) {
    const s: Step = sc.steps[i]!;
    const before = firedBefore();
    const faultsBefore = faultTotal();
    switch (s.kind) {
      case 'write': {
        const at = s.at === 0 ? 0 : lab(s.at);
        history.writes.push(...(await workloads[at]!.run(apps[at]!, s.ops, i)));
        break;
      }
      case 'sync':
        await sync(lab(s.node), i, faultsBefore);
        break;
      case 'sync-many':
        await Promise.all([...new Set(s.nodes.map(lab))].map((who) => sync(who, i, faultsBefore)));
        break;
      case 'write-during-sync': {
        // The app's transaction and the agent's run side by side; the write
        // is not acknowledged by this sync (it may or may not be in it).
        const who = lab(s.node);
        const [writes] = await Promise.all([workloads[who]!.run(apps[who]!, s.ops, i), sync(who, i, faultsBefore)]);
        history.writes.push(...writes);
        const acks = history.acks.get(who);
        if (acks?.at(-1) === i) acks.pop();
        break;
      }
      case 'join': {
        if (down.has(0)) break;
        const spec = { dialect: sc.world.nodes[i % sc.world.nodes.length]!.dialect, skewMs: 0 };
        if (await world.joinLate(scope, dir, spec)) {
          const n = world.nodes.at(-1)!;
          workloads.push(new ReplicaWorkload(n.index + 1));
          apps.push(n.app);
        }
        break;
      }
      case 'offline':
        world.nodes[lab(s.node) - 1]!.proxy.partition(s.on);
        break;
      case 'net':
        world.nodes[lab(s.node) - 1]!.proxy.inject({ kind: s.fault, path: s.endpoint ? `/v1/${s.endpoint}` : undefined, times: s.times, delayMs: s.delayMs });
        break;
      case 'crash': {
        const who = s.node === 0 ? 0 : lab(s.node);
        if (down.has(who)) break;
        (who === 0 ? world.hubFaults : world.nodes[who - 1]!.faults).arm(s.afterCalls, s.mode);
        break;
      }
      case 'restart-hub':
        if (!down.has(0)) await restart(0, i);
        break;
      case 'heal':
        await healAll(i);
        break;
      case 'purge':
        if (down.has(0)) break;
        // The oracle keeps what the purge removes: acknowledged writes are checked against every entry ever logged.
        await history.keepLog(world);
        try {
          const p = await world.hub.purge();
          purged.entries += p.log + p.markers;
          purged.expired += p.expired.length;
        } catch (e) {
          if (!(e instanceof InjectedFault)) throw e;
        }
        break;
      case 'time':
        world.advance(s.hours * 3_600_000);
        break;
      case 'tamper': {
        const who = lab(s.node);
        if (await tamper(world, history, who - 1, s.pick, i)) tampered.add(who);
        break;
      }
    }
    // A component whose database failed has crashed: it starts again now
    // (or, while its database keeps failing, once that heals).
    const after = firedBefore();
    for (let who = 0; who < after.length; who++) {
      if (before[who] === undefined || after[who]! === before[who]! || down.has(who)) continue;
      const faults = who === 0 ? world.hubFaults : world.nodes[who - 1]!.faults;
      if (faults.armed) down.add(who);
      else await restart(who, i);
    }
    await sampleCursors(world, history, i);
    // Website writes are acknowledged once the hub has sequenced them.
    if (!down.has(0) && (await world.hubInner.read((tx) => tx.captureStats())).count === 0) history.ack(0, i);
  }

  const end = sc.steps.length;
  await healAll(end);
  // Rows changed behind Outpost's back never converge by syncing: verify finds them and repairs them (hub wins).
  for (const who of tampered) await repair(world, who - 1, history);
  result.convergeMs = await converge(world, history, end);
  // Verify agrees with the byte-for-byte comparison (every run with tampering, and every tenth).
  if (tampered.size || sc.seed % 10 === 0) await verifyAll(world, history);
  await sampleCursors(world, history, end + 1);
  for (const n of world.nodes) {
    const check = integrityOf(n.url);
    if (check !== 'ok') history.failures.push(`${n.name}'s SQLite file at the end: ${check}`);
  }
  await checkHistory(world, history);
  result.faults = {
    'hub db': world.hubFaults.fired,
    'node db': world.nodes.reduce((s, n) => s + n.faults.fired, 0),
    ...Object.fromEntries(Object.entries(proxyFired()).map(([k, v]) => [`net ${k}`, v])),
  };
  result.events = { 'purged rows': purged.entries, 'labs expired': purged.expired };
}

