import { OutpostError } from '../protocol/index.ts';
import type { SqlRunner } from './sql-runner.ts';

/** How a dialect makes a savepoint report its constraint failures inside it, not at COMMIT. */
export interface SavepointDialect {
  /**
   * statements run before the outermost SAVEPOINT: turn foreign-key checks
   * that the transaction defers to commit into per-statement checks
   * (PostgreSQL `SET CONSTRAINTS ALL IMMEDIATE`, which also checks what is
   * pending from before, outside the savepoint, so such a failure fails the
   * transaction; SQLite and MariaDB check every statement anyway)
   */
  readonly enter: readonly string[];
  /** statements run once the outermost savepoint is released or rolled back to: the transaction's deferral again */
  readonly leave: readonly string[];
  /** the driver's error as the OutpostError it stands for (APPLY_FAILED, DB_BUSY, …), or as it is */
  translate(e: unknown): unknown;
}

/** No deferral to undo: MariaDB checks each statement, and a transaction that turned foreign-key checks off has none to surface. */
export const PLAIN_SAVEPOINTS = (translate: (e: unknown) => unknown): SavepointDialect => ({ enter: [], leave: [], translate });

/**
 * Savepoints of one transaction. `run(fn)` runs fn inside a SAVEPOINT; if
 * the database refuses a change (APPLY_FAILED) the savepoint is rolled back
 * to, the transaction stays usable, and the error is rethrown. Any other
 * failure (DB_BUSY: a deadlock or lock wait timeout; a lost connection) is
 * rethrown as it is, without touching the transaction, so that the whole
 * transaction fails and rolls back. Savepoints nest.
 */
export class Savepoints {
  readonly #db: SqlRunner;
  readonly #dialect: SavepointDialect;
  #depth = 0;

  constructor(db: SqlRunner, dialect: SavepointDialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.#depth === 0;
    if (outer) for (const s of this.#dialect.enter) await this.#db.run(s);
    const name = `outpost_sp${++this.#depth}`;
    try {
      await this.#db.run(`SAVEPOINT ${name}`);
      let result: T;
      try {
        result = await fn();
      } catch (e) {
        const err = this.#dialect.translate(e);
        if (!(err instanceof OutpostError && err.code === 'APPLY_FAILED')) throw err;
        await this.#db.run(`ROLLBACK TO SAVEPOINT ${name}`);
        await this.#db.run(`RELEASE SAVEPOINT ${name}`);
        if (outer) for (const s of this.#dialect.leave) await this.#db.run(s);
        throw err;
      }
      await this.#db.run(`RELEASE SAVEPOINT ${name}`);
      if (outer) for (const s of this.#dialect.leave) await this.#db.run(s);
      return result;
    } finally {
      this.#depth--;
    }
  }
}
