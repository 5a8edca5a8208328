/**
 * What the benchmark creates (databases, processes, temporary directories)
 * is undone when the part that created it ends, also when it fails, and on
 * Ctrl-C or SIGTERM for every part still open.
 */

type Undo = () => Promise<unknown> | unknown;

const open = new Set<Scope>();
let interrupted = false;

export class Scope {
  readonly #undo: Undo[] = [];
  #closing: Promise<void> | null = null;

  constructor() {
    // once interrupted, nothing new is created while the rest is undone
    if (interrupted) throw new Error('bench: interrupted');
    open.add(this);
  }

  /** Run `undo` when the scope closes (the last deferred runs first); at once if it is closing already. */
  defer(undo: Undo): void {
    if (this.#closing) void this.#closing.then(() => runUndo(undo));
    else this.#undo.push(undo);
  }

  /** Undo everything deferred; closing again (as a signal and a failing step may) waits for the same undoing. */
  close(): Promise<void> {
    return (this.#closing ??= this.#undoAll());
  }

  async #undoAll(): Promise<void> {
    for (let undo = this.#undo.pop(); undo; undo = this.#undo.pop()) await runUndo(undo);
    open.delete(this);
  }
}

async function runUndo(undo: Undo): Promise<void> {
  try {
    await undo();
  } catch (e) {
    process.stderr.write(`bench: cleanup failed: ${(e as Error).message}\n`);
  }
}

/** Run `fn` with a scope that is closed when it returns or throws. */
export async function withScope<T>(fn: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope();
  try {
    return await fn(scope);
  } finally {
    await scope.close();
  }
}

/** On SIGINT or SIGTERM: close every open scope, newest first, then exit. */
export function cleanUpOnSignals(): void {
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, cleaning up…\n`);
    for (const scope of [...open].reverse()) await scope.close();
    process.exit(130);
  };
  process.once('SIGINT', (s) => void stop(s));
  process.once('SIGTERM', (s) => void stop(s));
}
