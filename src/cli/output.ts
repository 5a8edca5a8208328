import { userInfo } from 'node:os';
import { isOutpostError } from '../protocol/index.ts';

/** Print a result: JSON for machines with --json, a line for people otherwise. */
export function emit(json: boolean, value: unknown, human: string): void {
  process.stdout.write(json ? JSON.stringify(value) + '\n' : human + '\n');
}

/** Report a failure and set a non-zero exit code. */
export function fail(e: unknown, json: boolean): void {
  const code = isOutpostError(e) ? e.code : 'INTERNAL';
  const message = (e as Error)?.message ?? String(e);
  if (json) process.stdout.write(JSON.stringify({ ok: false, code, message }) + '\n');
  process.stderr.write(`outpost: ${message} [${code}]\n`);
  process.exitCode = isOutpostError(e) && (e.code === 'HUB_UNREACHABLE' || e.code === 'HUB_ERROR' || e.code === 'HUB_TLS_FAILED' || e.code === 'SHUTTING_DOWN') ? 3 : isOutpostError(e) && e.status < 500 ? 2 : 1;
}

/** A progress line on stderr when it is a terminal; nothing otherwise. */
export function terminalProgress(): ((what: string, done: number, total?: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (what, done, total) => {
    const now = Date.now();
    if (now - last < 100 && (!total || done < total)) return;
    last = now;
    const pct = total ? ` ${Math.floor((done / total) * 100)}%` : '';
    process.stderr.write(`\r${what}: ${done}${total ? `/${total}` : ''} rows${pct}   `);
    if (total && done >= total) process.stderr.write('\n');
  };
}

/** Who the audit trail names for a CLI action on the hub's database. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}
