import { openDb, readCa } from './secrets.ts';
import type { Adapter } from '../adapters/adapter.ts';
import { OutpostError } from '../protocol/index.ts';
import { addNode, rekeyNode, revokeNode } from '../hub/enrollment.ts';
import { NodeAgent, type SyncSummary } from '../node/agent.ts';
import { runLoop } from '../node/run-loop.ts';
import { runLive } from '../node/live-loop.ts';
import { Scheduler, parseEvery, parseQuietHours } from '../node/schedule.ts';
import { controlToken, startControlServer, type ControlServer } from '../node/control-server.ts';
import { recordNextSync } from '../node/sync-status.ts';
import { cliActor, emit, terminalProgress } from './output.ts';

/** Open the database for one command; only `join` may create it. */
export async function withDb<T>(url: string, fn: (db: Adapter) => Promise<T>, create = false): Promise<T> {
  const db = await openDb(url, { mustExist: !create });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** `--expires-in DURATION`: `90s`, `30m`, `24h`, `7d` (at most 30 days) as milliseconds. */
export function durationMs(v: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(v.trim());
  const ms = m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(ms > 0) || ms > 30 * 86_400_000) throw new OutpostError('BAD_REQUEST', `--expires-in ${JSON.stringify(v)}: use a number and s, m, h or d (e.g. 30m, 24h, 7d; at most 30d)`);
  return ms;
}

const codeLine = (name: string, expiresAt: number | null, how: string): string =>
  `${how} ${name}; the code works once${expiresAt === null ? '' : `, until ${new Date(expiresAt).toISOString()}`}\n`;

/** `outpost node add NAME [--expires-in D]`: prints the one-time code and nothing else on stdout. */
export function nodeAdd(name: string, o: { db: string; expiresIn?: string; attr?: Record<string, string> }): Promise<void> {
  const ttlMs = o.expiresIn === undefined ? undefined : durationMs(o.expiresIn);
  return withDb(o.db, async (db) => {
    const attrs = o.attr && Object.keys(o.attr).length ? o.attr : undefined;
    const r = await addNode(db, name, Date.now(), { ttlMs, actor: cliActor(), ...(attrs ? { attrs } : {}) });
    process.stdout.write(r.code + '\n');
    if (process.stderr.isTTY) process.stderr.write(codeLine(name, r.expiresAt, r.reissued ? 'new code for' : 'enrolled'));
  });
}

/** `outpost node rotate NAME [--expires-in D]`: a new one-time code for an enrolled node; its credential stops working now. */
export function nodeRotate(name: string, o: { db: string; expiresIn?: string }): Promise<void> {
  const ttlMs = o.expiresIn === undefined ? undefined : durationMs(o.expiresIn);
  return withDb(o.db, async (db) => {
    const r = await rekeyNode(db, name, Date.now(), { ttlMs, actor: cliActor() });
    process.stdout.write(r.code + '\n');
    if (process.stderr.isTTY) process.stderr.write(codeLine(name, r.expiresAt, `re-keyed (on the node: outpost rotate --code CODE --db NODE_URL)`));
  });
}

export function nodeRevoke(name: string, o: { db: string }): Promise<void> {
  return withDb(o.db, async (db) => {
    await revokeNode(db, name, Date.now(), { actor: cliActor() });
    process.stderr.write(`revoked ${name}\n`);
  });
}

/** `outpost rotate --db NODE_URL [--code CODE]`: a new credential for this node. */
export function rotate(o: { db: string; code?: string; json?: boolean; timeout?: string }): Promise<void> {
  return withDb(o.db, async (db) => {
    const agent = await NodeAgent.open(db, { timeoutMs: timeoutMs(o) });
    const r = await agent.rotate(o.code);
    emit(!!o.json, { ok: true, ...r }, `new credential for ${r.nodeName} (${r.nodeId}) stored; ${r.confirmed ? 'the old one no longer works' : 'the old one works until the next sync'}`);
  });
}

export function summaryLine(s: SyncSummary): string {
  const snap = s.snapshotRows ? `, snapshot ${s.snapshotRows} rows` : '';
  const q = s.quarantined ? `, quarantined ${s.quarantined} (see outpost status)` : '';
  return `synced: pushed ${s.pushed}, pulled ${s.pulled}, conflicts ${s.conflicts}${snap}${q}, ${s.durationMs} ms`;
}

/** `--timeout SECONDS` as the agent's per-request timeout (undefined: the agent's default, 60 s). */
const timeoutMs = (o: { timeout?: string }): number | undefined => (o.timeout === undefined ? undefined : Math.round(Number(o.timeout) * 1000));

export function join(o: { hub: string; code: string; db: string; json?: boolean; timeout?: string; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const { agent, summary } = await NodeAgent.join(db, o.hub, o.code, { progress: terminalProgress(), timeoutMs: timeoutMs(o), ca });
    const st = await agent.status();
    emit(!!o.json, { ok: true, nodeId: st.nodeId, nodeName: st.nodeName, ...summary }, `joined ${o.hub} as ${st.nodeName} (${st.nodeId}); ${summaryLine(summary)}`);
  }, true);
}

export function sync(o: { db: string; json?: boolean; timeout?: string; ca?: string }): Promise<void> {
  const ca = readCa(o.ca);
  return withDb(o.db, async (db) => {
    const agent = await NodeAgent.open(db, { progress: terminalProgress(), timeoutMs: timeoutMs(o), ca });
    const s = await agent.sync();
    emit(!!o.json, { ok: true, ...s }, summaryLine(s));
  });
}

export interface RunFlags {
  db: string;
  interval?: string;
  every?: string;
  cron?: string;
  quietHours?: string;
  timeZone?: string;
  controlPort?: string;
  controlTokenFile?: string;
  shutdownGrace?: string;
  json?: boolean;
  timeout?: string;
  ca?: string;
  /** false with --no-live: scheduled syncs only */
  live?: boolean;
}

/** `--interval SECONDS` (default 30), `--every DURATION` or `--cron EXPR` (one of them), with `--quiet-hours` and `--time-zone`. */
export function schedulerOf(o: RunFlags): Scheduler {
  const given = [o.interval !== undefined && '--interval', o.every !== undefined && '--every', o.cron !== undefined && '--cron'].filter(Boolean);
  if (given.length > 1) throw new OutpostError('BAD_REQUEST', `give one of --interval, --every and --cron, not ${given.join(' and ')}`);
  const schedule = o.cron !== undefined
    ? { kind: 'cron' as const, expression: o.cron }
    : { kind: 'interval' as const, everyMs: o.every !== undefined ? parseEvery(o.every) : Number(o.interval ?? '30') * 1000 };
  return new Scheduler(schedule, o.quietHours === undefined ? null : parseQuietHours(o.quietHours), o.timeZone);
}

/**
 * `outpost run`: sync on a schedule; with `--control-port`, serve the local
 * control endpoint. SIGTERM/SIGINT: no new sync starts, the control endpoint
 * closes, the sync under way may finish within `--shutdown-grace` seconds
 * (default 10; a second signal: at once), else it is abandoned (its open
 * transaction is not committed; the next start resumes). Exit code 0.
 */
export function run(o: RunFlags): Promise<void> {
  const ca = readCa(o.ca);
  const scheduler = schedulerOf(o);
  const token = o.controlTokenFile === undefined ? undefined : controlToken(o.controlTokenFile);
  const graceMs = Math.round(Number(o.shutdownGrace ?? '10') * 1000);
  return withDb(o.db, async (db) => {
    const agent = await NodeAgent.open(db, { timeoutMs: timeoutMs(o), ca });
    const ctrl = new AbortController();
    let control: ControlServer | null = null;
    let abandon: () => void = () => undefined;
    const abandoned = new Promise<'abandoned'>((resolve) => (abandon = () => resolve('abandoned')));
    const onSignal = (): void => {
      if (ctrl.signal.aborted) return abandon();
      ctrl.abort();
      void control?.close();
      setTimeout(abandon, graceMs).unref();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const st = await agent.status();
    const live = o.live !== false;
    if (o.controlPort !== undefined) {
      control = await startControlServer(agent, { port: Number(o.controlPort), token });
      process.stderr.write(`outpost: control endpoint on ${control.url} (POST /sync, GET /status)${token ? ', token required' : ''}\n`);
    }
    process.stderr.write(`outpost: syncing ${st.nodeName} with ${st.hub} ${live ? 'live (WebSocket), and ' : ''}${scheduler.describe()} (Ctrl-C stops)\n`);
    let noted: Promise<void> = Promise.resolve();
    const common = {
      scheduler,
      signal: ctrl.signal,
      onNext: (at: number | null) => void (noted = noted.then(() => recordNextSync(db, at)).catch(() => undefined)),
      onSync: (s: SyncSummary) => emit(!!o.json, { ok: true, at: new Date().toISOString(), ...s }, `${new Date().toISOString()} ${summaryLine(s)}`),
      onError: (e: Error, ms: number) => emit(!!o.json, { ok: false, at: new Date().toISOString(), message: e.message, retryInMs: ms }, `${new Date().toISOString()} sync failed: ${e.message}; retrying in ${(ms / 1000).toFixed(1)} s`),
    };
    const loop = !live ? runLoop(agent, common) : runLive(agent, {
      ...common,
      // Live state changes go to stderr, in words (stdout keeps one line per sync).
      onLive: (s) => process.stderr.write(`${new Date().toISOString()} live: ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.state === 'fallback-interval' ? `; syncing ${scheduler.describe()}, retrying the WebSocket${s.retryAt ? ` at ${s.retryAt}` : ''}` : ''}\n`),
    });
    try {
      if ((await Promise.race([loop.then(() => 'done' as const), abandoned])) === 'abandoned') {
        process.stderr.write(`outpost: stopped; the sync under way was abandoned (nothing of it was committed that is not complete; it resumes at the next start)\n`);
        process.exit(0);
      }
    } finally {
      await control?.close();
      await noted;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
