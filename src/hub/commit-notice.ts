import type { Change, WireValue } from '../protocol/index.ts';
import type { Adapter, LogEntry, ScopeMark, Tx } from '../adapters/adapter.ts';

/**
 * One change-log entry a commit appended, as far as choosing whom to poke
 * needs it: its table, its origin (the node whose push it was; null: the hub,
 * i.e. the website, an admin, a restatement) and, for small commits, its key.
 * A commit with many entries is summarised per (table, origin), without keys.
 */
export interface LoggedEntryRef {
  table: string;
  origin: string | null;
  /** the row's key; absent when the commit was summarised (a filter then treats the entry as touching any row of the table) */
  pk?: WireValue[];
  /** a scoped table's entry: its scope mark (the row's scope values before and after, or the one node it is for; scope-log.ts) */
  scope?: ScopeMark;
}

/** What a hub process tells its live nodes (and the other hub processes) after a commit that appended to the change log. */
export interface CommitNotice {
  /** the change log's head after the commit (the highest sequence it holds) */
  head: number;
  /** the appended entries; null when not known (a commit seen only as the head moving, e.g. by another process's CLI): poke everyone */
  entries: LoggedEntryRef[] | null;
  /**
   * The log entries the commit appended, read back as a pull reads them, in
   * log order; `from`: the log's head before the commit's first append. Present only when
   * asked for (live nodes that take pages are connected) and the commit
   * appended at most PAGE_MAX_ENTRIES; the entries are then exactly the log
   * after `from` up to `head`, since write transactions commit one at a time.
   */
  page?: { from: number; entries: LogEntry[] };
}

/** The most entries a commit's notice carries as a page (live-page.ts); a larger commit is pulled. */
export const PAGE_MAX_ENTRIES = 64;

/** Entries with keys up to this many per commit; beyond, one entry per (table, origin). */
export const NOTICE_MAX_KEYS = 64;

/**
 * What a write transaction appended to the log, as its notice needs it:
 * the first NOTICE_MAX_KEYS entries with their keys, and beyond that one
 * entry per (table, origin, scope mark). It keeps no change's values, so a
 * commit of any size costs a few small objects (a hub that sequenced
 * 200,000 existing rows at start-up in one transaction used to hold every
 * change until the commit: 370 MiB).
 */
export class LoggedEntries {
  #count = 0;
  #keyed: LoggedEntryRef[] = [];
  #summary: Map<string, LoggedEntryRef> | null = null;
  readonly tables = new Set<string>();

  get count(): number {
    return this.#count;
  }

  add(e: Logged): void {
    this.#count++;
    this.tables.add(e.change.table);
    if (this.#summary === null && this.#count <= NOTICE_MAX_KEYS) {
      this.#keyed.push(ref(e, true));
      return;
    }
    if (this.#summary === null) {
      // Past the keyed entries: they are summarised with the rest.
      this.#summary = new Map();
      for (const k of this.#keyed) this.#summarise(k);
      this.#keyed = [];
    }
    this.#summarise(ref(e, false));
  }

  /** The notice's entries: with keys for a small commit, summarised for a large one. */
  entries(): LoggedEntryRef[] {
    return this.#summary ? [...this.#summary.values()] : [...this.#keyed];
  }

  #summarise(r: LoggedEntryRef): void {
    const { pk: _, ...summary } = r;
    // A commit's rows fall in few scopes (a lab's rows, say).
    this.#summary!.set(`${r.table}\u0000${r.origin ?? ''}\u0000${JSON.stringify(r.scope ?? null)}`, summary);
  }
}

const ref = (e: Logged, pk: boolean): LoggedEntryRef => ({ table: e.change.table, origin: e.origin, ...(pk ? { pk: e.change.pk } : {}), ...(e.scope ? { scope: e.scope } : {}) });

type Logged = { change: Pick<Change, 'table' | 'pk'>; origin: string | null; scope?: ScopeMark };

/**
 * The hub's database as the Hub uses it, telling `onCommit` of every write
 * transaction that appended to the change log, once it has committed, with
 * the entries appended and the log's head. Every writer of the hub process
 * goes through it (pushes, sequencing of website writes, conflict
 * resolutions, quarantine retries and discards, schema refreshes), so none
 * can forget to poke. Reads and everything else go to the adapter as they are.
 */
export function noticingAdapter(db: Adapter, onCommit: (n: CommitNotice) => void, wantPages: () => boolean = () => false): Adapter {
  const write: Adapter['write'] = async (fn, opts) => {
    let logged = new LoggedEntries();
    let head = 0;
    let page: CommitNotice['page'];
    const result = await db.write(async (tx) => {
      logged = new LoggedEntries(); // a transaction retried by the adapter starts again
      page = undefined;
      // The log's head before this transaction's first append (only a transaction that appends asks).
      let from: number | null = null;
      const beforeAppend = wantPages() ? async (): Promise<void> => void (from ??= await tx.maxLogSeq()) : null;
      const r = await fn(recordingTx(tx, logged, beforeAppend));
      if (logged.count) head = await tx.maxLogSeq();
      if (from !== null && logged.count && logged.count <= PAGE_MAX_ENTRIES) page = await readPage(tx, from, head, logged);
      return r;
    }, opts);
    if (logged.count) {
      try {
        onCommit({ head, entries: logged.entries(), ...(page ? { page } : {}) });
      } catch {
        // A listener's failure (a poke) never fails a write that has committed.
      }
    }
    return result;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'write') return write;
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The entries this transaction appended, as a pull reads them; undefined if the log after `from` is not exactly them. */
async function readPage(tx: Tx, from: number, head: number, logged: LoggedEntries): Promise<CommitNotice['page']> {
  const { entries } = await tx.readLog({ after: from, limit: logged.count + 1, excludeOrigin: null, tables: [...logged.tables] });
  if (entries.length !== logged.count || entries[entries.length - 1]!.seq !== head) return undefined;
  return { from, entries };
}

/** `tx` with its log appends recorded into `logged` (`beforeAppend` awaited before each). */
function recordingTx(tx: Tx, logged: LoggedEntries, beforeAppend: (() => Promise<void>) | null): Tx {
  return new Proxy(tx, {
    get(target, prop) {
      if (prop === 'appendLog') {
        return async (change: Change, origin: string | null, scope?: ScopeMark) => {
          await beforeAppend?.();
          logged.add(scope ? { change, origin, scope } : { change, origin });
          return target.appendLog(change, origin, scope);
        };
      }
      if (prop === 'appendLogs') {
        return async (entries: readonly { change: Change; origin: string | null; scope?: ScopeMark }[]) => {
          await beforeAppend?.();
          for (const e of entries) logged.add(e);
          return target.appendLogs(entries);
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
