/**
 * The product as users run it: `outpost hub` as a long-running child
 * process, and each `outpost node add` / `join` / `sync` as a process of its
 * own, with the peak memory of both.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './databases.ts';

const BIN = join(ROOT, 'bin/outpost.js');
const MAX_RSS_MARK = 'outpost-bench-max-rss-kib';
/** Preloaded into each CLI process: prints its peak RSS (getrusage, KiB) on stderr as it exits. */
const REPORT_MAX_RSS = `data:text/javascript,${encodeURIComponent(`process.on('exit', () => process.stderr.write('\\n${MAX_RSS_MARK} ' + process.resourceUsage().maxRSS + '\\n'));`)}`;
/** The hub logs warnings only: a log line per request would cost the hub time it does not spend in production at info level either. */
const ENV = { ...process.env, OUTPOST_LOG_LEVEL: 'warn' };
/** OUTPOST_BENCH_CPU_PROF=DIR: every hub and CLI process writes a CPU profile there as it exits (what is in the way of a figure). */
const PROFILE = process.env.OUTPOST_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.OUTPOST_BENCH_CPU_PROF}`] : [];

export interface CliResult {
  /** the `--json` line the command printed (commands without --json: `{ stdout }`) */
  json: Record<string, unknown>;
  stdout: string;
  /** the process's peak resident set size */
  maxRssBytes: number;
}

/** Run `outpost ARGS` to completion; rejects with its stderr when it fails. */
export function outpost(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [...PROFILE, '--import', REPORT_MAX_RSS, BIN, ...args], { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const rss = new RegExp(`${MAX_RSS_MARK} (\\d+)`).exec(stderr);
      const errors = stderr.replace(new RegExp(`\\n?${MAX_RSS_MARK} \\d+\\n`), '').trim();
      if (code !== 0) return reject(new Error(`outpost ${args.slice(0, 2).join(' ')} exited with ${code}: ${errors || stdout}`));
      const last = stdout.trim().split('\n').at(-1) ?? '';
      resolve({ json: last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : { stdout }, stdout, maxRssBytes: Number(rss?.[1] ?? 0) * 1024 });
    });
  });
}

/** The figures a sync or join reports with --json (`src/node/agent.ts`, SyncSummary). */
export interface SyncResult {
  pushed: number;
  pulled: number;
  snapshotRows: number;
  /** the sync itself, as the CLI measured it: no process start-up */
  seconds: number;
  maxRssBytes: number;
}

export function syncResult(r: CliResult): SyncResult {
  const { pushed, pulled, snapshotRows, durationMs } = r.json as Record<string, number>;
  if (typeof durationMs !== 'number') throw new Error(`bench: no durationMs in ${JSON.stringify(r.json)}`);
  return { pushed, pulled, snapshotRows, seconds: durationMs / 1000, maxRssBytes: r.maxRssBytes };
}

export interface HubProcess {
  url: string;
  pid: number;
  memory: PeakMemory;
  stop(): Promise<void>;
}

/** `outpost hub --db URL --port 0 --config FILE`, resolved once it listens. */
export async function startHub(dbUrl: string, config: string): Promise<HubProcess> {
  const child = spawn(process.execPath, [...PROFILE, BIN, 'hub', '--db', dbUrl, '--port', '0', '--config', config], { cwd: ROOT, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the hub exited with ${code} before listening: ${stderr || stdout}`)));
  });
  const memory = new PeakMemory(child.pid!);
  return {
    url,
    pid: child.pid!,
    memory,
    async stop() {
      memory.stop();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The peak resident set size of a running process, from /proc/PID/status:
 * VmHWM (the kernel's high-water mark) read every 100 ms. `reset()` starts
 * a new window: it clears the high-water mark (/proc/PID/clear_refs) so that
 * what the process used before (a hub's start-up) does not count.
 */
export class PeakMemory {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #peak = 0;
  /** whether VmHWM covers only the current window (false when clear_refs could not reset it) */
  #hwmInWindow = true;

  constructor(pid: number) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.#poll(), 100);
    this.#timer.unref();
  }

  reset(): void {
    try {
      writeFileSync(`/proc/${this.#pid}/clear_refs`, '5');
      this.#hwmInWindow = true;
    } catch {
      // not allowed here: VmRSS, polled, still sees the window's peak to within 100 ms
      this.#hwmInWindow = false;
    }
    this.#peak = 0;
    this.#poll();
  }

  /** The highest RSS since the last reset, in bytes. */
  peakBytes(): number {
    this.#poll();
    return this.#peak;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #poll(): void {
    try {
      const status = readFileSync(`/proc/${this.#pid}/status`, 'utf8');
      for (const field of this.#hwmInWindow ? ['VmHWM', 'VmRSS'] : ['VmRSS']) {
        const kib = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
        this.#peak = Math.max(this.#peak, kib * 1024);
      }
    } catch {
      // the process has exited
    }
  }
}
