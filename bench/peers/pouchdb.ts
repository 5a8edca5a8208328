/**
 * The PouchDB comparison peer: how long PouchDB, as people use it, takes to
 * push rows to a CouchDB-protocol server and to pull them into an empty
 * client. The server is express-pouchdb (bench/peers/pouchdb-server.ts) in a
 * child process on 127.0.0.1; both sides keep their databases on disk
 * (PouchDB's default Node adapter, leveldb). Replication runs with PouchDB's
 * default options.
 *
 *   node --import tsx bench/peers/pouchdb.ts [--rows N]
 *
 * prints the figures as JSON.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import PouchDB from 'pouchdb';
import { itemRows } from '../data.ts';

export interface PouchFigures {
  pushSeconds: number;
  pullSeconds: number;
  /** Bytes over HTTP during the push, both ways (request and response headers and bodies), counted on the server's sockets. */
  pushBytes?: number;
  /** Bytes over HTTP during the pull, both ways, counted the same way. */
  pullBytes?: number;
  /** The server process's peak resident set size over the whole run. */
  serverPeakRssBytes?: number;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./pouchdb-server.ts', import.meta.url));
/** Loaded by absolute URL, since the server runs with its working directory in `dir`. */
const TSX_LOADER = import.meta.resolve('tsx');
const FILL_BATCH = 1_000;

interface ServerStats { bytesRead: number; bytesWritten: number; maxRssBytes: number }

/** The express-pouchdb child: its port, a way to ask for its stats, and a way to stop it. */
class PouchServer {
  private readonly lines: string[] = [];
  private readonly waiters: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  private stderr = '';
  private exited: Error | null = null;
  port = 0;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, Readable>) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(line);
      else this.lines.push(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-8_000); });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`the PouchDB server exited (${signal ?? `code ${code}`})${this.stderr ? `:\n${this.stderr}` : ''}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.exited);
    });
    child.on('error', (err) => { // could not be started (or signalled)
      this.exited ??= new Error(`the PouchDB server: ${err.message}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.exited);
    });
  }

  static async start(dir: string): Promise<PouchServer> {
    mkdirSync(dir, { recursive: true });
    const child = spawn(process.execPath, ['--import', TSX_LOADER, SERVER_SCRIPT, '--dir', dir], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    const server = new PouchServer(child);
    let timer: NodeJS.Timeout | undefined;
    try {
      const ready = await Promise.race([
        server.nextLine(),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the PouchDB server did not start in 30 s:\n${server.stderr}`)), 30_000); }),
      ]);
      server.port = (JSON.parse(ready) as { port: number }).port;
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async stats(): Promise<ServerStats> {
    this.child.stdin.write('stats\n');
    return JSON.parse(await this.nextLine()) as ServerStats;
  }

  /** Asks the server to exit (it also exits when its stdin closes); kills it if it has not within 5 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }
}

/** Runs a one-shot replication to completion, reporting its cumulative docs_written. */
async function replicate(replication: PouchDB.Replication, onWritten: (docsWritten: number) => void): Promise<PouchDB.ReplicationResult> {
  replication.on('change', (info) => onWritten(info.docs_written));
  const result = await replication;
  if (result.doc_write_failures > 0) throw new Error(`PouchDB replication: ${result.doc_write_failures} document writes failed: ${JSON.stringify(result.errors.slice(0, 3))}`);
  onWritten(result.docs_written);
  return result;
}

async function expectDocCount(db: PouchDB.Database, expected: number, what: string): Promise<void> {
  const { doc_count } = await db.info();
  if (doc_count !== expected) throw new Error(`PouchDB ${what}: ${doc_count} documents, expected ${expected}`);
}

const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/**
 * Replicate `rows` with PouchDB against an express-pouchdb server in a child
 * process on 127.0.0.1, in `dir` (a temp dir the caller removes).
 *
 * `onProgress` follows both timed replications as one run: the push counts
 * from 0 to rows.length and the pull from rows.length to 2 × rows.length, so
 * `total` is 2 × rows.length.
 */
export async function measurePouchDB(rows: readonly Record<string, string | number>[], dir: string, onProgress?: (done: number, total: number) => void): Promise<PouchFigures> {
  const total = 2 * rows.length;
  const server = await PouchServer.start(dir);
  const remoteUrl = `http://127.0.0.1:${server.port}/bench`;
  const opened: PouchDB.Database[] = [];
  const open = (name: string): PouchDB.Database => {
    const db = new PouchDB(name);
    opened.push(db);
    return db;
  };
  try {
    // Fill a local on-disk database, one document per row (not timed).
    const source = open(join(dir, 'client-push'));
    for (let i = 0; i < rows.length; i += FILL_BATCH) {
      const docs = rows.slice(i, i + FILL_BATCH).map(({ id, ...fields }): PouchDB.NewDocument => {
        if (typeof id !== 'string' || id === '') throw new Error(`row ${i}: no string id`);
        for (const key of Object.keys(fields)) if (key.startsWith('_')) throw new Error(`row field ${key}: PouchDB reserves names starting with _`);
        return { _id: id, ...fields };
      });
      const failed = (await source.bulkDocs(docs)).filter((r) => r.error);
      if (failed.length > 0) throw new Error(`PouchDB bulkDocs: ${failed.length} failed, e.g. ${JSON.stringify(failed[0])}`);
    }
    await expectDocCount(source, rows.length, 'local database after filling');

    // Push: one-shot replication to the server, timed until complete.
    const beforePush = await server.stats();
    const pushStart = process.hrtime.bigint();
    await replicate(source.replicate.to(remoteUrl), (written) => onProgress?.(Math.min(written, rows.length), total));
    const pushSeconds = seconds(pushStart);
    const afterPush = await server.stats();
    await expectDocCount(open(remoteUrl), rows.length, 'server after the push');

    // Pull: a second, empty local database replicates from the server, timed.
    const target = open(join(dir, 'client-pull'));
    const beforePull = await server.stats();
    const pullStart = process.hrtime.bigint();
    await replicate(target.replicate.from(remoteUrl), (written) => onProgress?.(rows.length + Math.min(written, rows.length), total));
    const pullSeconds = seconds(pullStart);
    const afterPull = await server.stats();
    await expectDocCount(target, rows.length, 'local database after the pull');

    const wire = (from: ServerStats, to: ServerStats): number => to.bytesRead - from.bytesRead + to.bytesWritten - from.bytesWritten;
    return {
      pushSeconds,
      pullSeconds,
      pushBytes: wire(beforePush, afterPush),
      pullBytes: wire(beforePull, afterPull),
      serverPeakRssBytes: afterPull.maxRssBytes,
    };
  } finally {
    await Promise.allSettled(opened.map((db) => db.close()));
    await server.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: args } = parseArgs({ options: { rows: { type: 'string' } } });
  const count = Number(args.rows ?? 5_000);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--rows must be a positive integer, not ${args.rows}`);
  const rows = [...itemRows(count)];
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-pouchdb-'));
  const tty = process.stderr.isTTY;
  let shown = -1;
  try {
    const figures = await measurePouchDB(rows, dir, (done, total) => {
      const percent = Math.floor((100 * done) / total);
      if (tty && percent !== shown) process.stderr.write(`\rPouchDB: ${percent}%`);
      shown = percent;
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const perSecond = (s: number): number => Math.round(count / s);
    console.log(JSON.stringify({
      rows: count,
      ...figures,
      pushRowsPerSecond: perSecond(figures.pushSeconds),
      pullRowsPerSecond: perSecond(figures.pullSeconds),
    }, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
