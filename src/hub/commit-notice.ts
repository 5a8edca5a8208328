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

/** The notice's entries for a commit that appended `logged`, summarised when large. */
export function noticeEntries(logged: readonly Logged[]): LoggedEntryRef[] {
  const ref = (e: Logged, pk: boolean): LoggedEntryRef => ({ table: e.change.table, origin: e.origin, ...(pk ? { pk: e.change.pk } : {}), ...(e.scope ? { scope: e.scope } : {}) });
  if (logged.length <= NOTICE_MAX_KEYS) return logged.map((e) => ref(e, true));
  // Summarised per table, origin and scope mark (a commit's rows fall in few scopes: a lab's rows, say).
  const seen = new Map<string, LoggedEntryRef>();
  for (const e of logged) seen.set(`${e.change.table}\u0000${e.origin ?? ''}\u0000${JSON.stringify(e.scope ?? null)}`, ref(e, false));
  return [...seen.values()];
}

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
    let logged: Logged[] = [];
    let head = 0;
    let page: CommitNotice['page'];
    const result = await db.write(async (tx) => {
      logged = []; // a transaction retried by the adapter starts again
      page = undefined;
      // The log's head before this transaction's first append (only a transaction that appends asks).
      let from: number | null = null;
      const beforeAppend = wantPages() ? async (): Promise<void> => void (from ??= await tx.maxLogSeq()) : null;
      const r = await fn(recordingTx(tx, logged, beforeAppend));
      if (logged.length) head = await tx.maxLogSeq();
      if (from !== null && logged.length && logged.length <= PAGE_MAX_ENTRIES) page = await readPage(tx, from, head, logged);
      return r;
    }, opts);
    if (logged.length) {
      try {
        onCommit({ head, entries: noticeEntries(logged), ...(page ? { page } : {}) });
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
async function readPage(tx: Tx, from: number, head: number, logged: readonly Logged[]): Promise<CommitNotice['page']> {
  const tables = [...new Set(logged.map((e) => e.change.table))];
  const { entries } = await tx.readLog({ after: from, limit: logged.length + 1, excludeOrigin: null, tables });
  if (entries.length !== logged.length || entries[entries.length - 1]!.seq !== head) return undefined;
  return { from, entries };
}

/** `tx` with its log appends recorded into `logged` (`beforeAppend` awaited before each). */
function recordingTx(tx: Tx, logged: Logged[], beforeAppend: (() => Promise<void>) | null): Tx {
  return new Proxy(tx, {
    get(target, prop) {
      if (prop === 'appendLog') {
        return async (change: Change, origin: string | null, scope?: ScopeMark) => {
          await beforeAppend?.();
          logged.push(scope ? { change, origin, scope } : { change, origin });
          return target.appendLog(change, origin, scope);
        };
      }
      if (prop === 'appendLogs') {
        return async (entries: readonly { change: Change; origin: string | null; scope?: ScopeMark }[]) => {
          await beforeAppend?.();
          for (const e of entries) logged.push(e);
          return target.appendLogs(entries);
        };
      }
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
