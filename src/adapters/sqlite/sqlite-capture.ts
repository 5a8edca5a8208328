import { counterColumns, type TableSchema } from '../../protocol/index.ts';
import { quoteSqlite as q, sqliteString as s } from './sqlite-quote.ts';

/** Milliseconds since the epoch, as SQLite versions from 3.8 on compute it. */
const NOW_MS = `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`;
const NOT_APPLYING = `NOT EXISTS (SELECT 1 FROM _outpost_applying)`;

export function triggerNames(table: string): string[] {
  return ['ai', 'au', 'ak', 'ad', 'bi', 'bu', 'bd'].map((k) => `_outpost_${table}_${k}`);
}

/**
 * Capture triggers: after each insert, update (changed columns only) and
 * delete, one row in _outpost_capture, unless the agent is applying (echo
 * suppression by the _outpost_applying flag row of its own transaction).
 */
/**
 * The key as a JSON array in wire form: integers beyond 2^53 become
 * {"$n": "digits"}, as toWire writes them, so keys compare equal everywhere.
 */
export function keyJsonSql(t: TableSchema, row: 'NEW.' | 'OLD.' | ''): string {
  const parts = t.primaryKey.map((c) => {
    const v = `${row}${q(c)}`;
    const kind = t.columns.find((x) => x.name === c)?.kind;
    return kind === 'integer' || kind === 'decimal'
      ? `CASE WHEN typeof(${v}) = 'integer' AND (${v} > 9007199254740991 OR ${v} < -9007199254740991) THEN json_object('$n', CAST(${v} AS TEXT)) ELSE ${v} END`
      : v;
  });
  return `json_array(${parts.join(', ')})`;
}

export function captureTriggersSql(t: TableSchema): string[] {
  const name = s(t.name);
  const pk = (row: 'NEW' | 'OLD'): string => keyJsonSql(t, `${row}.`);
  const keyChanged = t.primaryKey.map((c) => `OLD.${q(c)} IS NOT NEW.${q(c)}`).join(' OR ');
  const counters = counterColumns(t);
  // A counter column is written `c=<NEW.c - OLD.c>` (HARD-PARTS §5); with a
  // NULL on either side there is no delta, and it is written as a plain name.
  const changed = t.columns
    .filter((c) => !t.primaryKey.includes(c.name))
    .map((c) => {
      const [n, o] = [`NEW.${q(c.name)}`, `OLD.${q(c.name)}`];
      const token = counters.includes(c.name)
        ? `${s(c.name)} || CASE WHEN typeof(${n}) = 'integer' AND typeof(${o}) = 'integer' THEN '=' || (${n} - ${o}) ELSE '' END || ','`
        : s(c.name + ',');
      return `(CASE WHEN ${n} IS NOT ${o} THEN ${token} ELSE '' END)`;
    });
  const changedList = changed.length ? changed.join(' || ') : `''`;
  const ins = `INSERT INTO _outpost_capture (tbl, pk, op, cols, ts)`;
  const inserted = insertedCountersSql(counters);
  return [
    `CREATE TRIGGER ${q(`_outpost_${t.name}_ai`)} AFTER INSERT ON ${q(t.name)} WHEN ${NOT_APPLYING}
BEGIN ${ins} VALUES (${name}, ${pk('NEW')}, 'I', ${inserted}, ${NOW_MS}); END`,
    // An update that keeps the key (one statement), and one that changes it (a delete and an insert): split by their WHEN, so each runs only its own.
    `CREATE TRIGGER ${q(`_outpost_${t.name}_au`)} AFTER UPDATE ON ${q(t.name)} WHEN ${NOT_APPLYING} AND NOT (${keyChanged})
BEGIN ${ins} SELECT ${name}, ${pk('NEW')}, 'U', c, ${NOW_MS} FROM (SELECT ${changedList} AS c) WHERE c <> ''; END`,
    `CREATE TRIGGER ${q(`_outpost_${t.name}_ak`)} AFTER UPDATE ON ${q(t.name)} WHEN ${NOT_APPLYING} AND (${keyChanged})
BEGIN
  ${ins} VALUES (${name}, ${pk('OLD')}, 'D', NULL, ${NOW_MS});
  ${ins} VALUES (${name}, ${pk('NEW')}, 'I', ${inserted}, ${NOW_MS});
END`,
    `CREATE TRIGGER ${q(`_outpost_${t.name}_ad`)} AFTER DELETE ON ${q(t.name)} WHEN ${NOT_APPLYING}
BEGIN ${ins} VALUES (${name}, ${pk('OLD')}, 'D', NULL, ${NOW_MS}); END`,
  ];
}

/**
 * An insert records the inserted value of each counter column as `c=<value>`
 * (NULL when the table has none): the hub logs a website insert with these
 * values, not with the row's values when it sequences it, which may already
 * hold later deltas that are logged on their own.
 */
function insertedCountersSql(counters: readonly string[]): string {
  if (counters.length === 0) return 'NULL';
  const parts = counters.map((c) => `CASE WHEN typeof(NEW.${q(c)}) = 'integer' THEN ${s(c + '=')} || NEW.${q(c)} || ',' ELSE '' END`);
  return `NULLIF(${parts.join(' || ')}, '')`;
}

/** Triggers that refuse app writes to a table the hub owns (direction `down`). */
export function readonlyTriggersSql(t: TableSchema): string[] {
  const msg = s(`outpost: table ${t.name} is read-only on this node (direction down); its rows come from the hub`);
  return (['INSERT', 'UPDATE', 'DELETE'] as const).map(
    (ev) => `CREATE TRIGGER ${q(`_outpost_${t.name}_b${ev[0]!.toLowerCase()}`)} BEFORE ${ev} ON ${q(t.name)} WHEN ${NOT_APPLYING}
BEGIN SELECT RAISE(ABORT, ${msg}); END`,
  );
}

/** Record the rows already in the table as inserts (initial state), timed now or at the epoch. */
export function initialCaptureSql(t: TableSchema, atEpoch: boolean): string {
  return `INSERT INTO _outpost_capture (tbl, pk, op, cols, ts) SELECT ${s(t.name)}, ${keyJsonSql(t, '')}, 'I', NULL, ${atEpoch ? '0' : NOW_MS} FROM ${q(t.name)}`;
}
