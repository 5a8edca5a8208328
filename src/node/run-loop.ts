import { OutpostError } from '../protocol/index.ts';
import type { NodeAgent, SyncSummary } from './agent.ts';
import { Scheduler } from './schedule.ts';

export interface RunOptions {
  /** milliseconds between syncs, when no `scheduler` is given (default 30 s) */
  intervalMs?: number;
  /** an interval or cron schedule with quiet hours (schedule.ts); default: every `intervalMs` */
  scheduler?: Scheduler;
  signal?: AbortSignal;
  /** the clock and the wait (tests inject both) */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** told when the next scheduled sync is due (null: none; the loop ends) */
  onNext?: (at: number | null) => void;
  /** first retry delay; doubles per failure up to maxBackoffMs, with jitter */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  onSync?: (s: SyncSummary) => void;
  onError?: (e: Error, retryInMs: number) => void;
}

/** Errors that waiting will not mend: the loop stops on them. */
export const FATAL_CODES: ReadonlySet<string> = new Set(['UNAUTHORIZED', 'NOT_ENROLLED', 'PROTOCOL_MISMATCH', 'ENROLLMENT_CODE_INVALID', 'NODE_STATE_BEHIND', 'TLS_CONFIG_INVALID']);

/** The delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter". */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const d = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + random() * (d / 2));
}

/**
 * Sync on a schedule until aborted: at once (unless in quiet hours), then as
 * the scheduler says. A failed sync is retried after an exponential backoff
 * with jitter (moved out of quiet hours); state lives in the database, so each
 * try resumes where the last one stopped. An abort during a sync lets it
 * finish (the caller decides how long to wait for that).
 */
export async function runLoop(agent: Pick<NodeAgent, 'sync'>, o: RunOptions): Promise<void> {
  const base = o.baseBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 60_000;
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  const wait = o.sleep ?? sleep;
  const scheduler = o.scheduler ?? new Scheduler({ kind: 'interval', everyMs: o.intervalMs ?? 30_000 });
  let failures = 0;
  let due = scheduler.first(now());
  while (due !== null && !o.signal?.aborted) {
    o.onNext?.(due);
    if (due > now()) await wait(due - now(), o.signal);
    if (o.signal?.aborted) break;
    const slot = due;
    try {
      // (not `o.onSync?.(await …)`: without onSync that would never sync)
      const summary = await agent.sync();
      o.onSync?.(summary);
      failures = 0;
      due = scheduler.next(now(), slot);
    } catch (e) {
      if (e instanceof OutpostError && FATAL_CODES.has(e.code)) throw e;
      const backoff = backoffDelay(failures++, base, max, random);
      due = scheduler.retry(now() + backoff);
      o.onError?.(e as Error, due - now());
    }
  }
  o.onNext?.(null);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
