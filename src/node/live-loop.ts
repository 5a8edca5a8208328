import { OutpostError } from '../protocol/index.ts';
import type { NodeAgent, SyncSummary } from './agent.ts';
import type { PokedPage } from './pull.ts';
import { LiveClient, type LiveStatus } from './live-client.ts';
import { FATAL_CODES, backoffDelay, sleep } from './run-loop.ts';
import { readNodeState } from './node-state.ts';
import { Scheduler } from './schedule.ts';
import { recordLive } from './sync-status.ts';

/** Pages kept from pokes that arrive while a sync runs. */
const MAX_QUEUED_PAGES = 32;
/** Applied pages are acknowledged at most this often (the latest cursor): one message, not one per page. */
const ACK_EVERY_MS = 250;

export interface LiveRunOptions {
  /** sync at least this often (the fallback when the socket will not open, and a safety net when it is open), when no `scheduler` is given */
  intervalMs?: number;
  /** the scheduled syncs beside live ones: an interval or cron, with quiet hours (schedule.ts); quiet hours hold scheduled syncs back, never a poke's or a local write's */
  scheduler?: Scheduler;
  /** told when the next scheduled sync is due */
  onNext?: (at: number | null) => void;
  signal?: AbortSignal;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  /** how often the capture table is checked for local writes to push (default 75 ms; 0: never, only pokes and the interval) */
  captureWatchMs?: number;
  /** how long after a local write is seen the push waits for more (default 50 ms) */
  debounceMs?: number;
  /** opening the socket; see LiveClientOptions */
  connectTimeoutMs?: number;
  liveBackoffMs?: number;
  liveMaxBackoffMs?: number;
  onSync?: (s: SyncSummary) => void;
  onError?: (e: Error, retryInMs: number) => void;
  onLive?: (s: LiveStatus) => void;
}

/**
 * Live mode (`outpost run`; docs/live.md): a WebSocket to the hub, a pull as
 * soon as the hub pokes, a push as soon as the capture table has new local
 * writes (polled, debounced), and the interval sync beside them: alone while
 * the socket cannot open (`fallback-interval` in the agent's status), as a
 * safety net while it is open. One sync runs at a time; a request during one
 * makes another follow it. Failures back off exactly like `runLoop`, and the
 * same errors stop it.
 */
export async function runLive(agent: NodeAgent, o: LiveRunOptions): Promise<void> {
  const base = o.baseBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 60_000;
  const random = o.random ?? Math.random;
  const state = await agent.db.read(readNodeState);
  let cursor = state.cursor;
  let wanted = true; // the first sync runs at once
  // A poke alone needs only a pull (NodeAgent.pullNow); local writes, the schedule and failures want a full sync.
  let full = true;
  let wake: (() => void) | null = null;
  const kick = (): void => {
    wanted = true;
    full = true;
    wake?.();
  };
  const poked = (): void => {
    wanted = true;
    wake?.();
  };
  // Pages pokes carried since the last sync, in order, and the highest head poked.
  let pages: PokedPage[] = [];
  let pokedHead = 0;

  let recorded: Promise<void> = Promise.resolve();
  const client = new LiveClient({
    hubUrl: state.hubUrl,
    token: state.token,
    ca: state.hubCa ?? undefined,
    connectTimeoutMs: o.connectTimeoutMs,
    baseBackoffMs: o.liveBackoffMs,
    maxBackoffMs: o.liveMaxBackoffMs,
    random,
    onPoke: (head, page) => {
      if (head <= cursor) return;
      pokedHead = Math.max(pokedHead, head);
      // A bounded queue: pages dropped from it leave a gap the pull fills.
      if (page) pages = [...pages.slice(-(MAX_QUEUED_PAGES - 1)), { ...page, head }];
      poked();
    },
    // Whatever happened while the socket was down is pulled now.
    onOpen: (head) => {
      if (head > cursor) kick();
    },
    onStatus: (s) => {
      agent.live = s;
      o.onLive?.(s);
      // Kept in the node's state too, for `outpost status` and the control endpoint (best effort, in order).
      recorded = recorded.then(() => recordLive(agent.db, s)).catch(() => undefined);
    },
    // A revoked credential: the next sync fails with UNAUTHORIZED and stops the loop.
    onUnauthorized: kick,
  });
  agent.live = client.status;
  client.start();
  let ackTimer: NodeJS.Timeout | null = null;
  let ackCursor = 0;
  const sendAck = (): void => {
    if (ackTimer) clearTimeout(ackTimer);
    ackTimer = null;
    client.ack(ackCursor);
  };
  const ack = (c: number): void => {
    ackCursor = c;
    ackTimer ??= setTimeout(sendAck, ACK_EVERY_MS);
  };

  // Local writes: the capture table's highest sequence moved.
  let seenMax = -1;
  let debounce: NodeJS.Timeout | null = null;
  let watching = false;
  const watchMs = o.captureWatchMs ?? 75;
  const watch = watchMs > 0 ? setInterval(() => {
    if (watching) return;
    watching = true;
    agent.db.read((tx) => tx.captureStats()).then(({ count, maxSeq }) => {
      if (count > 0 && maxSeq !== seenMax) {
        seenMax = maxSeq;
        if (debounce) clearTimeout(debounce);
        debounce = setTimeout(kick, o.debounceMs ?? 50);
      }
    }, () => undefined).finally(() => (watching = false));
  }, watchMs) : null;
  // The scheduled syncs: each slot kicks a sync, then the next slot is planned.
  const scheduler = o.scheduler ?? new Scheduler({ kind: 'interval', everyMs: o.intervalMs ?? 30_000 });
  let timer: NodeJS.Timeout | null = null;
  const plan = (due: number | null): void => {
    o.onNext?.(due);
    if (due === null || o.signal?.aborted) return;
    timer = setTimeout(() => {
      kick();
      plan(scheduler.next(Date.now(), due));
    }, Math.max(0, due - Date.now()));
  };
  const first = scheduler.first(Date.now());
  // The first sync runs at once (wanted); the schedule starts after it.
  plan(first === null ? null : scheduler.next(Date.now(), first));
  const onAbort = (): void => wake?.();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  let failures = 0;
  try {
    while (!o.signal?.aborted) {
      if (!wanted) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
        continue;
      }
      wanted = false;
      const whole = full;
      full = false;
      const taken = pages;
      const head = pokedHead;
      pages = [];
      try {
        const s = whole ? await agent.sync() : await agent.pullNow({ pages: taken, head: head > cursor ? head : undefined });
        // Pages applied without a pull: the hub learns the position from an ack.
        if (!whole && taken.length && s.cursor > cursor) ack(s.cursor);
        cursor = s.cursor;
        failures = 0;
        o.onSync?.(s);
      } catch (e) {
        if (e instanceof OutpostError && FATAL_CODES.has(e.code)) throw e;
        const wait = backoffDelay(failures++, base, max, random);
        o.onError?.(e as Error, wait);
        await sleep(wait, o.signal);
        wanted = true;
        full = true;
      }
    }
  } finally {
    if (ackTimer) sendAck();
    client.stop();
    if (watch) clearInterval(watch);
    if (debounce) clearTimeout(debounce);
    if (timer) clearTimeout(timer);
    o.onNext?.(null);
    agent.live = null;
    await recorded;
    await recordLive(agent.db, null).catch(() => undefined);
    o.signal?.removeEventListener('abort', onAbort);
  }
}
