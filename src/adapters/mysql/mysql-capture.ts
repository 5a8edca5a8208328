import { counterColumns, type ColumnSchema, type TableSchema } from '../../protocol/index.ts';
import { quoteMysql as q, mysqlString as s } from './mysql-quote.ts';

/**
 * Milliseconds since the epoch when the statement started. UNIX_TIMESTAMP()
 * without argument and NOW(3) both read the statement start time, and
 * neither depends on the session time zone (UNIX_TIMESTAMP(NOW(3)) would,
 * in the repeated hour of a DST change).
 */
export const NOW_MS = `(UNIX_TIMESTAMP() * 1000 + FLOOR(MICROSECOND(NOW(3)) / 1000))`;
/** Echo suppression (HARD-PARTS §1): the agent sets this session variable around its own transactions. */
const NOT_APPLYING = '@outpost_applying IS NULL';

export function triggerNames(table: string): { capture: string[]; readonly: string[] } {
  return {
    capture: ['ai', 'au', 'ad'].map((k) => `_outpost_${table}_${k}`),
    readonly: ['bi', 'bu', 'bd'].map((k) => `_outpost_${table}_${k}`),
  };
}

/** One key column as JSON text in wire form (what JSON.stringify of the wire value reads as). */
function keyPartJson(c: ColumnSchema | undefined, v: string): string {
  switch (c?.kind) {
    case 'integer':
      // Beyond ±2^53 an integer travels as {"$n": "digits"}.
      return `IF(${v} > 9007199254740991 OR ${v} < -9007199254740991, CONCAT('{"$n":"', CAST(${v} AS CHAR), '"}'), CAST(${v} AS CHAR))`;
    case 'boolean':
      return `IF(${v}, 'true', 'false')`;
    case 'real':
      return `CAST(${v} AS CHAR)`;
    case 'decimal':
      return `JSON_QUOTE(CAST(${v} AS CHAR))`;
    case 'uuid':
      return `JSON_QUOTE(LOWER(CAST(${v} AS CHAR)))`;
    case 'date':
      return `JSON_QUOTE(DATE_FORMAT(${v}, '%Y-%m-%d'))`;
    case 'datetime':
      return `JSON_QUOTE(CONCAT(DATE_FORMAT(${v}, '%Y-%m-%dT%H:%i:%s.'), LPAD(FLOOR(MICROSECOND(${v}) / 1000), 3, '0'), 'Z'))`;
    case 'blob':
      return `CONCAT('{"$b":', JSON_QUOTE(REPLACE(TO_BASE64(${v}), '\\n', '')), '}')`;
    default:
      return `JSON_QUOTE(CONVERT(${v} USING utf8mb4))`;
  }
}

/** The key as a JSON array text in wire form, so JSON.parse + JSON.stringify gives pkKey(wireKey). */
export function keyJsonSql(t: TableSchema, row: 'NEW.' | 'OLD.' | ''): string {
  const parts = t.primaryKey.map((c) => keyPartJson(t.columns.find((x) => x.name === c), `${row}${q(c)}`));
  return `CONCAT('[', ${parts.join(", ',', ")}, ']')`;
}

/** Text columns compare as bytes: under a case-insensitive collation 'a' <=> 'A' is true. */
function differs(c: ColumnSchema | undefined, name: string): string {
  const bin = c && ['text', 'json', 'uuid', 'blob'].includes(c.kind);
  const a = bin ? `BINARY NEW.${q(name)}` : `NEW.${q(name)}`;
  const b = bin ? `BINARY OLD.${q(name)}` : `OLD.${q(name)}`;
  return `NOT (${a} <=> ${b})`;
}

/**
 * Capture triggers: after each insert, update (changed non-key columns only)
 * and delete, one row in _outpost_capture, unless this session is the agent
 * applying (echo suppression by @outpost_applying). A key change is a delete
 * of the old key and an insert of the new one.
 */
export function captureTriggersSql(t: TableSchema, createOrReplace: boolean): string[] {
  const create = createOrReplace ? 'CREATE OR REPLACE TRIGGER' : 'CREATE TRIGGER';
  const name = s(t.name);
  const ins = (row: 'NEW' | 'OLD', op: string, cols: string): string =>
    `INSERT INTO _outpost_capture (tbl, pk, op, cols, ts) VALUES (${name}, ${keyJsonSql(t, `${row}.`)}, '${op}', ${cols}, ${NOW_MS});`;
  const keyChanged = t.primaryKey.map((c) => differs(t.columns.find((x) => x.name === c), c)).join(' OR ');
  const counters = counterColumns(t);
  // A counter column is written `c=<NEW.c - OLD.c>` (HARD-PARTS §5), computed
  // as DECIMAL so that no integer type overflows; with a NULL on either side
  // there is no delta, and it is written as a plain name.
  const changed = t.columns
    .filter((c) => !t.primaryKey.includes(c.name))
    .map((c) => {
      const [n, o] = [`NEW.${q(c.name)}`, `OLD.${q(c.name)}`];
      const token = counters.includes(c.name)
        ? `CONCAT(${s(c.name)}, IF(${n} IS NOT NULL AND ${o} IS NOT NULL, CONCAT('=', CAST(${n} AS DECIMAL(65,0)) - CAST(${o} AS DECIMAL(65,0))), ''), ',')`
        : s(c.name + ',');
      return `IF(${differs(c, c.name)}, ${token}, '')`;
    });
  const changedList = changed.length ? `CONCAT(${changed.join(', ')})` : `''`;
  // An insert records each counter's inserted value as `c=<value>` (see sqlite-capture.ts).
  const inserted = counters.length
    ? `NULLIF(CONCAT(${counters.map((c) => `IF(NEW.${q(c)} IS NULL, '', CONCAT(${s(c + '=')}, CAST(NEW.${q(c)} AS DECIMAL(65,0)), ','))`).join(', ')}), '')`
    : 'NULL';
  return [
    `${create} ${q(`_outpost_${t.name}_ai`)} AFTER INSERT ON ${q(t.name)} FOR EACH ROW
BEGIN
  IF ${NOT_APPLYING} THEN ${ins('NEW', 'I', inserted)} END IF;
END`,
    `${create} ${q(`_outpost_${t.name}_au`)} AFTER UPDATE ON ${q(t.name)} FOR EACH ROW
BEGIN
  DECLARE _outpost_cols TEXT DEFAULT '';
  IF ${NOT_APPLYING} THEN
    IF ${keyChanged} THEN
      ${ins('OLD', 'D', 'NULL')}
      ${ins('NEW', 'I', inserted)}
    ELSE
      SET _outpost_cols = ${changedList};
      IF _outpost_cols <> '' THEN ${ins('NEW', 'U', '_outpost_cols')} END IF;
    END IF;
  END IF;
END`,
    `${create} ${q(`_outpost_${t.name}_ad`)} AFTER DELETE ON ${q(t.name)} FOR EACH ROW
BEGIN
  IF ${NOT_APPLYING} THEN ${ins('OLD', 'D', 'NULL')} END IF;
END`,
  ];
}

/** Triggers that refuse app writes to a table the hub owns (direction `down`). */
export function readonlyTriggersSql(t: TableSchema, createOrReplace: boolean): string[] {
  const create = createOrReplace ? 'CREATE OR REPLACE TRIGGER' : 'CREATE TRIGGER';
  // MESSAGE_TEXT holds at most 128 characters.
  const msg = s(`outpost: table ${t.name} is read-only on this node (direction down); its rows come from the hub`.slice(0, 128));
  return (['INSERT', 'UPDATE', 'DELETE'] as const).map(
    (ev) => `${create} ${q(`_outpost_${t.name}_b${ev[0]!.toLowerCase()}`)} BEFORE ${ev} ON ${q(t.name)} FOR EACH ROW
BEGIN
  IF ${NOT_APPLYING} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${msg}; END IF;
END`,
  );
}

/** Record the rows already in the table as inserts (initial state), timed now or at the epoch: one INSERT … SELECT. */
export function initialCaptureSql(t: TableSchema, atEpoch: boolean): string {
  return `INSERT INTO _outpost_capture (tbl, pk, op, cols, ts) SELECT ${s(t.name)}, ${keyJsonSql(t, '')}, 'I', NULL, ${atEpoch ? '0' : NOW_MS} FROM ${q(t.name)}`;
}
