import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from './fixtures.ts';

/** The `outpost` command as users run it: bin/outpost.js, the sources through tsx's loader. */
export const SOURCE_BIN = join(ROOT, 'bin/outpost.js');

/**
 * The `outpost` command the tests run: the same sources compiled once by
 * esbuild when `npm test` built them (scripts/test.mjs sets
 * OUTPOST_TEST_CLI; a start costs 0.1 s of CPU instead of 0.45 s), else
 * bin/outpost.js.
 */
export const BIN = process.env.OUTPOST_TEST_CLI ?? SOURCE_BIN;

export function outpost(cwd: string, args: string[], env?: NodeJS.ProcessEnv): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: env ? { ...process.env, ...env } : undefined });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export async function freePort(): Promise<number> {
  // Below Linux's ephemeral range (32768 and up): a port the system picked
  // would be handed out again to other tests' client sockets, and a hub
  // restarted on it would find it taken (EADDRINUSE).
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      return port;
    }
  }
  throw new Error('no free port found below the ephemeral range');
}

/** `outpost hub ARGS` in a child process, resolved once it says it listens (`banner`: what it printed). */
export async function startHubProcess(cwd: string, args: string[], env?: NodeJS.ProcessEnv, bin = BIN): Promise<ChildProcess & { banner: string }> {
  const child = spawn(process.execPath, [bin, 'hub', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined }) as ChildProcess & { banner: string };
  let out = '';
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start: ${out}${err}`)), 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      child.banner = out;
      if (out.includes('Add a lab:')) (clearTimeout(timer), resolve());
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => reject(new Error(`the hub exited with ${code}: ${out}${err}`)));
  });
  return child;
}
