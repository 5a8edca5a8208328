import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { addNode } from '../../src/hub/enrollment.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import { DbFaults, withDbFaults } from './db-faults.ts';
import { ANY, type HttpFaultKind } from './http-faults.ts';
import { checkHistory, difference, History, integrityOf } from './oracle.ts';
import { scratchRoot } from './scratch.ts';
import { ReplicaWorkload } from './workload.ts';
import { World } from './world.ts';

/**
 * Fail at every step: for each step of push, pull, snapshot and the hub's
 * apply — every database call the component makes, every request on the
 * wire — inject one failure there, once or until healed, then heal, sync
 * again and check that every replica equals the hub and nothing was lost or
 * applied twice. The steps are counted on a clean run of the same phase.
 */
type Phase = 'push' | 'pull' | 'snapshot' | 'hub apply';
const PHASES: Phase[] = ['push', 'pull', 'snapshot', 'hub apply'];

interface Bench {
  world: World;
  history: History;
  workloads: ReplicaWorkload[];
  step: number;
  dir: string;
}

async function bench(t: { after: (fn: () => unknown) => void }): Promise<Bench> {
  const dir = mkdtempSync(join(scratchRoot(), 'outpost-every-step-'));
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  });
  // Small pages: a push is a group of several pages, a pull several pages.
  const world = await World.create({ after: (fn) => fns.push(fn) }, { hub: 'sqlite', nodes: [{ dialect: 'sqlite', skewMs: 0 }, { dialect: 'sqlite', skewMs: 0 }], policy: 'merge', pullPage: 3, pageSize: 3 }, dir);
  return { world, history: new History(), workloads: [new ReplicaWorkload(0), new ReplicaWorkload(1), new ReplicaWorkload(2)], step: 0, dir };
}

/** The work that makes a phase do something: new rows where it will carry them. */
async function prepare(b: Bench, phase: Phase): Promise<void> {
  const at = phase === 'pull' || phase === 'snapshot' ? 0 : 1;
  const app = at === 0 ? b.world.web : b.world.nodes[0]!.app;
  const ops = [
    { op: 'insert' as const, children: 2, qty: 5, note: b.step },
    { op: 'insert' as const, children: 0, qty: 6, note: b.step + 1 },
    { op: 'update' as const, pick: b.step, set: [{ col: 'notes' as const, value: b.step }] },
  ];
  b.history.writes.push(...(await b.workloads[at]!.run(app, ops, b.step++)));
  if (phase === 'pull') {
    // The website's rows are sequenced at the hub before the pull starts.
    await b.world.hub.sequencePending();
  }
}

/** A fresh lab joined as far as its credential: its first sync is the snapshot. */
async function newLab(b: Bench, faults: DbFaults): Promise<{ agent: () => Promise<NodeAgent>; url: string; close: () => Promise<void> }> {
  const name = `snap-${b.step}`;
  const url = `sqlite:${join(b.dir, `${name}.db`)}`;
  const { code } = await addNode(b.world.hubInner, name);
  const inner = await openAdapter(url);
  // Joining stores the credential, then the snapshot is dropped on the wire: the lab has joined, nothing more.
  // (Twice: a request cut before any reply is sent once more.)
  b.world.http.inject(ANY, { kind: 'drop', endpoint: 'snapshot' });
  b.world.http.inject(ANY, { kind: 'drop', endpoint: 'snapshot' });
  const pre = await openAdapter(url);
  await assert.rejects(NodeAgent.join(pre, b.world.hubUrl, code, { pageSize: 3 }), /snapshot|reach the hub/);
  await pre.close();
  assert.equal(await inner.read((tx) => tx.getState('snapshot')), 'none');
  return { agent: () => NodeAgent.open(withDbFaults(inner, faults), { pageSize: 3 }), url, close: () => inner.close() };
}

/** The phase's sync, the way a failure there shows: the component's calls, from the start of the sync. */
async function runPhase(b: Bench, phase: Phase, lab?: NodeAgent): Promise<void> {
  if (phase === 'snapshot') await lab!.sync();
  else if (phase === 'pull') await b.world.nodes[0]!.agent.sync();
  else await b.world.nodes[0]!.agent.sync();
}

/** Heal, restart what crashed, sync everyone, and require the replicas to agree. */
async function recover(b: Bench, crashed: 'hub' | 'node' | null, extra: NodeAgent | null, label: string): Promise<void> {
  b.world.heal();
  if (crashed === 'hub') await b.world.restartHub();
  if (crashed === 'node') await b.world.restartNode(0);
  for (const url of [b.world.web.url, ...b.world.nodes.map((n) => n.url)]) assert.equal(integrityOf(url), 'ok', `${label}: integrity of ${url}`);
  for (let round = 0; round < 2; round++) {
    if (extra) await extra.sync();
    for (const n of b.world.nodes) {
      await n.agent.sync();
      b.history.ack(n.index + 1, b.step);
    }
    b.history.ack(0, b.step);
  }
  b.step++;
  const diff = await difference(b.world);
  assert.equal(diff, null, `${label}: ${diff}`);
}

for (const phase of PHASES) {
  test(`fail at every step of ${phase}: once, and until healed`, { timeout: 10 * 60_000 }, async (t) => {
    const b = await bench(t);
    const target = (): DbFaults => (phase === 'hub apply' ? b.world.hubFaults : b.world.nodes[0]!.faults);
    // Count the steps on a clean run.
    await prepare(b, phase);
    let lab = phase === 'snapshot' ? await newLab(b, new DbFaults()) : null;
    const counter = phase === 'snapshot' ? new DbFaults() : target();
    if (lab) lab = { ...lab, agent: async () => NodeAgent.open(withDbFaults(await openAdapter(lab!.url), counter), { pageSize: 3 }) };
    const agent = lab ? await lab.agent() : undefined;
    const httpBefore = b.world.http.seen.length;
    counter.startTrace();
    await runPhase(b, phase, agent);
    const steps = counter.stopTrace();
    const requests = b.world.http.seen.slice(httpBefore);
    await recover(b, null, agent ?? null, 'clean run');
    await agent?.db.close();
    await lab?.close();
    assert.ok(steps.length > 5, `${phase} makes ${steps.length} database calls`);

    let covered = 0;
    for (const mode of ['once', 'until-healed'] as const) {
      for (let k = 1; k <= steps.length; k++) {
        await prepare(b, phase);
        const faults = phase === 'snapshot' ? new DbFaults() : target();
        const fresh = phase === 'snapshot' ? await newLab(b, faults) : null;
        const snapAgent = fresh ? await fresh.agent() : undefined;
        const fired = faults.fired;
        faults.arm(k, mode);
        const label = `${phase}, call ${k} of ${steps.length} (${steps[k - 1]}), ${mode}`;
        await runPhase(b, phase, snapAgent).then(
          () => assert.equal(faults.fired, fired, `${label}: the sync succeeded although its call failed`),
          (e: Error) => assert.ok(faults.fired > fired, `${label}: failed without the fault firing: ${e.message}`),
        );
        if (faults.fired > fired) covered++;
        // The failed component died there and starts again (a new lab's agent is re-opened).
        let again = snapAgent ?? null;
        if (fresh) {
          faults.heal();
          again = await NodeAgent.open(await openAdapter(fresh.url), { pageSize: 3 });
        }
        await recover(b, phase === 'hub apply' ? 'hub' : fresh ? null : 'node', again, label);
        if (again) await again.db.close();
        await fresh?.close();
      }
    }
    // Requests on the wire: each one lost before the hub, its reply lost after the hub committed, or sent twice.
    const kinds: [HttpFaultKind, boolean][] = [['drop', false], ['drop', true], ['lose-reply', false], ['duplicate', false]];
    let wire = 0;
    if (phase !== 'hub apply') {
      for (const [kind, untilHealed] of kinds) {
        for (let j = 1; j <= requests.length; j++) {
          await prepare(b, phase);
          const fresh = phase === 'snapshot' ? await newLab(b, new DbFaults()) : null;
          const a = fresh ? await fresh.agent() : undefined;
          const token = fresh ? String(await a!.db.read((tx) => tx.getState('token'))) : b.world.nodes[0]!.token;
          b.world.http.injectNth(token, j, kind, untilHealed);
          await runPhase(b, phase, a).catch(() => undefined);
          await recover(b, null, a ?? null, `${phase}, request ${j} of ${requests.length} (${requests[j - 1]}), ${kind}${untilHealed ? ' until healed' : ''}`);
          wire++;
          await a?.db.close();
          await fresh?.close();
        }
      }
    }
    await checkHistory(b.world, b.history);
    assert.deepEqual(b.history.failures, []);
    t.diagnostic(`${phase}: ${steps.length} database calls × 2 modes, ${covered} failures injected and recovered; ${requests.length} requests × ${kinds.length} wire faults (drop once and until healed, reply lost, sent twice) = ${wire}`);
  });
}
