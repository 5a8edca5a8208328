import type { Adapter, Tx } from '../../src/adapters/adapter.ts';

/** The error an injected database failure throws (a crash at that point: the transaction rolls back). */
export class InjectedFault extends Error {
  override name = 'InjectedFault';
}

/**
 * Counts every call a component (a node agent, the hub) makes to its
 * database — adapter methods, transactions and every statement-level call
 * inside them — and fails the one chosen: once, or every call from then on
 * until healed. A failure inside a transaction rolls it back, as a crash
 * there would.
 */
export class DbFaults {
  calls = 0;
  fired = 0;
  /** the calls so far, by name (to say which step a failure hit) */
  readonly trace: string[] = [];
  #failAt: number | null = null;
  #untilHealed = false;
  #tracing = false;

  /** fail the n-th call from now (1: the next one) */
  arm(n: number, mode: 'once' | 'until-healed'): void {
    this.#failAt = this.calls + Math.max(1, n);
    this.#untilHealed = mode === 'until-healed';
  }

  heal(): void {
    this.#failAt = null;
  }

  get armed(): boolean {
    return this.#failAt !== null;
  }

  /** record the names of the calls made from now on (for counting a phase's steps) */
  startTrace(): void {
    this.trace.length = 0;
    this.#tracing = true;
  }

  stopTrace(): string[] {
    this.#tracing = false;
    return [...this.trace];
  }

  tick(what: string): void {
    this.calls++;
    if (this.#tracing) this.trace.push(what);
    if (this.#failAt !== null && this.calls >= this.#failAt) {
      if (!this.#untilHealed) this.#failAt = null;
      this.fired++;
      throw new InjectedFault(`injected failure at database call ${this.calls} (${what})`);
    }
  }
}

const wrapTx = (tx: Tx, faults: DbFaults): Tx =>
  new Proxy(tx, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        faults.tick(`tx.${String(prop)}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });

/** The adapter as the component sees it, with `faults` deciding which call fails. */
export function withDbFaults(inner: Adapter, faults: DbFaults): Adapter {
  return new Proxy(inner, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      if (prop === 'close') return v.bind(target);
      if (prop === 'read' || prop === 'write') {
        return async (fn: (tx: Tx) => Promise<unknown>, opts?: unknown) => {
          faults.tick(prop);
          return (v as (f: (tx: Tx) => Promise<unknown>, o?: unknown) => Promise<unknown>).call(target, (tx) => fn(wrapTx(tx, faults)), opts);
        };
      }
      return async (...args: unknown[]) => {
        faults.tick(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
