/**
 * What the benchmark creates (databases, processes, temporary directories)
 * is undone when the part that created it ends, also when it fails, and on
 * Ctrl-C or SIGTERM for every part still open.
 */

type Undo = () => Promise<unknown> | unknown;

const open = new Set<Scope>();

export class Scope {
  readonly #undo: Undo[] = [];

  constructor() {
    open.add(this);
  }

  /** Run `undo` when the scope closes (the last deferred runs first). */
  defer(undo: Undo): void {
    this.#undo.push(undo);
  }

  async close(): Promise<void> {
    open.delete(this);
    for (let undo = this.#undo.pop(); undo; undo = this.#undo.pop()) {
      try {
        await undo();
      } catch (e) {
        process.stderr.write(`bench: cleanup failed: ${(e as Error).message}\n`);
      }
    }
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
    process.stderr.write(`\nbench: ${signal}, cleaning up…\n`);
    for (const scope of [...open].reverse()) await scope.close();
    process.exit(130);
  };
  process.once('SIGINT', (s) => void stop(s));
  process.once('SIGTERM', (s) => void stop(s));
}
