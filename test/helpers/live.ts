import assert from 'node:assert/strict';
import type { TestNode } from './fixtures.ts';
import { runLive } from '../../src/node/live-loop.ts';
import type { LiveStatus } from '../../src/node/live-client.ts';

/** Poll `check` every 10 ms until it holds; the time it took, or a failure after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
}

/** A lab running live mode until the test ends; its live states are recorded. */
export function goLive(t: { after: (fn: () => unknown) => void }, lab: TestNode, o: { intervalMs?: number; captureWatchMs?: number } = {}): { states: LiveStatus[]; done: Promise<unknown>; stop(): Promise<unknown> } {
  const ctrl = new AbortController();
  const states: LiveStatus[] = [];
  const done = runLive(lab.agent, { intervalMs: o.intervalMs ?? 60_000, signal: ctrl.signal, captureWatchMs: o.captureWatchMs, onLive: (s) => states.push(s), liveBackoffMs: 100, liveMaxBackoffMs: 400 }).catch((e: unknown) => e);
  const stop = async (): Promise<unknown> => (ctrl.abort(), done);
  t.after(stop);
  return { states, done, stop };
}

