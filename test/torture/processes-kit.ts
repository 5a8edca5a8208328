import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { BIN, freePort } from '../helpers/cli.ts';
import { OIMS_CONFIG } from '../helpers/fixtures.ts';

/**
 * Shared pieces of the process tier: the hub and `outpost sync` as real
 * processes (optionally under libfaketime or in a network namespace), kills
 * at seeded random moments, and the checks made after each kill.
 */

export type Env = Record<string, string>;

/** A small seeded PRNG (mulberry32): the same seed replays the same run. */
export interface Rng {
  seed: number;
  next(): number;
  /** an integer in [lo, hi] */
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
}

export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

/** The base seed: `OUTPOST_TORTURE_SEED` replays a run; otherwise a fresh one, printed. */
export function tortureSeed(what: string): number {
  const given = process.env.OUTPOST_TORTURE_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed)) throw new Error(`OUTPOST_TORTURE_SEED must be an integer, got ${given}`);
  console.log(`# ${what}: seed ${seed} (replay with OUTPOST_TORTURE_SEED=${seed})`);
  return seed;
}

export interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** `outpost ARGS` as a child process, with extra environment (FAKETIME…) and an optional command prefix (`ip netns exec NS`). */
export function outpostProcess(args: string[], opts: { env?: Env; cwd?: string; prefix?: string[] } = {}): { child: ChildProcess; done: Promise<Finished> } {
  const argv = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Finished>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** Run `outpost ARGS` to the end; throws with its output unless it exits 0. */
export async function outpostOk(args: string[], opts: { env?: Env; prefix?: string[] } = {}): Promise<string> {
  const r = await outpostProcess(args, opts).done;
  if (r.code !== 0) throw new Error(`outpost ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** SIGKILL a child (if it still runs) and wait until it is gone; true when it was still running. */
export async function killNow(child: ChildProcess): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
  return child.signalCode === 'SIGKILL';
}

/** The hub as a process on a fixed port (so a restart keeps its URL), killed and restarted at will. */
export class HubProcess {
  readonly dbPath: string;
  readonly port: number;
  readonly url: string;
  readonly #env: Env;
  readonly #args: string[];
  #child: ChildProcess | null = null;
  /** Date.now() of the last (re)start */
  startedAt = 0;
  restarts = 0;

  private constructor(dbPath: string, port: number, opts: { env?: Env; host?: string; config?: string }) {
    const host = opts.host ?? '127.0.0.1';
    this.dbPath = dbPath;
    this.port = port;
    this.url = `http://${host}:${port}`;
    this.#env = opts.env ?? {};
    this.#args = ['hub', '--db', `sqlite:${dbPath}`, '--host', host, '--port', String(port), '--config', opts.config ?? OIMS_CONFIG];
  }

  /** `host` is the address it listens on (default 127.0.0.1), `config` its config file (default the OIMS example). */
  static async start(dbPath: string, opts: { env?: Env; port?: number; host?: string; config?: string } = {}): Promise<HubProcess> {
    const h = new HubProcess(dbPath, opts.port ?? (await freePort()), opts);
    await h.restart();
    return h;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  async restart(): Promise<void> {
    if (this.#child) throw new Error('the hub is running');
    const { child, done } = outpostProcess(this.#args, { env: { OUTPOST_LOG_LEVEL: 'warn', ...this.#env } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the hub did not start within 30 s: ${out}`)), 30_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Add a lab:')) (clearTimeout(timer), resolve());
      });
      void done.then((r) => (clearTimeout(timer), reject(new Error(`the hub exited with ${r.code ?? r.signal}: ${r.stdout}${r.stderr}`))));
    });
    this.#child = child;
    this.startedAt = Date.now();
    this.restarts++;
  }

  /** SIGKILL; true when it was running. */
  async kill(): Promise<boolean> {
    const c = this.#child;
    this.#child = null;
    return c ? killNow(c) : false;
  }
}

/** Enroll NAME on the hub's database and join a fresh SQLite lab at `labPath` through `hubUrl`, with the real CLI. */
export async function joinLab(hub: HubProcess, name: string, labPath: string, opts: { env?: Env; hubUrl?: string; prefix?: string[] } = {}): Promise<void> {
  const code = (await outpostOk(['node', 'add', name, '--db', `sqlite:${hub.dbPath}`])).trim();
  await outpostOk(['join', '--hub', opts.hubUrl ?? hub.url, '--code', code, '--db', `sqlite:${labPath}`, '--json'], { env: opts.env, prefix: opts.prefix });
}

/** `PRAGMA integrity_check` of a SQLite file (opened read-write so a hot WAL is recovered first). */
export function integrity(path: string): string {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

export function query<T>(path: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The node's pull cursor (`_outpost_state` k='cursor'), 0 before the first sync. */
export function cursorOf(labPath: string): number {
  const r = query<{ v: string }>(labPath, "SELECT v FROM _outpost_state WHERE k = 'cursor'");
  return r.length ? Number(r[0]!.v) : 0;
}

/**
 * Changes the hub's log recorded more than once (same origin, table, key and
 * stamp). Restatements (op R/X) are left out: each repeats the row's stamp on
 * purpose, after a node's write lost there.
 */
export function logDuplicates(hubPath: string): { origin: string; tbl: string; pk: string; hlc: string; n: number }[] {
  return query(hubPath, "SELECT origin, tbl, pk, hlc, COUNT(*) AS n FROM _outpost_log WHERE op NOT IN ('R', 'X') GROUP BY origin, tbl, pk, hlc HAVING COUNT(*) > 1");
}

export async function until(ok: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- what the machine allows ------------------------------------------------

const FAKETIME_LIB = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];

/** The environment that runs a process `offset` away from real time (libfaketime, e.g. '+24h'), or why it cannot. */
export function faketimeEnv(offset: string): { env: Env } | { skip: string } {
  const lib = FAKETIME_LIB.find((p) => existsSync(p));
  if (!lib) return { skip: 'libfaketime is not installed (Debian package faketime)' };
  // Only the wall clock moves; timers (monotonic) stay real.
  const env = { LD_PRELOAD: lib, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
  const probe = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(Date.now()))'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const shift = Number(probe.stdout) - Date.now();
  if (probe.status !== 0 || !Number.isFinite(shift) || Math.abs(shift) < 3_600_000) return { skip: `libfaketime at ${lib} does not move node's clock (${probe.stderr || `shift ${shift} ms`})` };
  return { env };
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Skip a test the machine cannot run, saying why; with
 * OUTPOST_REQUIRE_FAULTS=1 (CI sets it) the missing capability is a failure
 * instead, so CI never skips these silently.
 */
export function skipBecause(t: { skip: (why: string) => void }, why: string): void {
  if (process.env.OUTPOST_REQUIRE_FAULTS === '1') throw new Error(`${why}; OUTPOST_REQUIRE_FAULTS=1 forbids skipping this test`);
  t.skip(why);
}

/** Run a command; throws with its output on failure. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error?.message}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Null when the command runs and exits 0, else why not. */
export function cannot(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return `${cmd} is not available (${r.error.message})`;
  return r.status === 0 ? null : `${cmd} ${args.join(' ')} failed: ${r.stderr.trim() || r.status}`;
}
