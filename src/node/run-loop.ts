import { OutpostError } from '../protocol/index.ts';
import type { NodeAgent, SyncSummary } from './agent.ts';

export interface RunOptions {
  intervalMs: number;
  signal?: AbortSignal;
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
 * Sync on an interval until aborted. A failed sync is retried after an
 * exponential backoff with jitter; state lives in the database, so each try
 * resumes where the last one stopped.
 */
export async function runLoop(agent: NodeAgent, o: RunOptions): Promise<void> {
  const base = o.baseBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 60_000;
  const random = o.random ?? Math.random;
  let failures = 0;
  while (!o.signal?.aborted) {
    let wait = o.intervalMs;
    try {
      o.onSync?.(await agent.sync());
      failures = 0;
    } catch (e) {
      if (e instanceof OutpostError && FATAL_CODES.has(e.code)) throw e;
      wait = backoffDelay(failures++, base, max, random);
      o.onError?.(e as Error, wait);
    }
    await sleep(wait, o.signal);
  }
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
