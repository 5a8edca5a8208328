import { counterColumns, type TableSchema } from '../../protocol/index.ts';
import { outpostName, pgString as s, quotePg as q } from './postgres-quote.ts';

/**
 * Milliseconds since the epoch when the trigger fires (not when the
 * transaction began). date_part is double precision (exact to well under a
 * millisecond at today's epoch), cheaper than extract, which returns numeric
 * since PostgreSQL 14.
 */
export const NOW_MS = `(date_part('epoch', clock_timestamp()) * 1000)::bigint`;

/**
 * Echo suppression (HARD-PARTS §1): the agent's write transactions run
 * `SET LOCAL outpost.applying = 'on'`, which ends with the transaction.
 * Afterwards the setting reads '' (not NULL) on that connection, and NULL
 * (missing_ok) on connections that never set it, so the test is IS DISTINCT FROM.
 */
export const NOT_APPLYING = `current_setting('outpost.applying', true) IS DISTINCT FROM 'on'`;

/** Trigger and function names of a table; the function has the trigger's name. */
export function captureName(table: string): string {
  return outpostName(table, 'cap');
}
export function readonlyName(table: string): string {
  return outpostName(table, 'ro');
}

/**
 * The PostgreSQL base type (pg_type.typname, e.g. int8, timestamptz) of each
 * column as the database has it, which the key expressions need; the
 * schema's declared type may be another dialect's.
 */
export type LiveTypes = ReadonlyMap<string, string>;

const MAX_SAFE = '9007199254740991';
const ISO_MS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** One key value as JSON in wire form (canonical.ts), so keys compare equal everywhere. */
function keyValueJson(v: string, pgType: string | undefined, kind: string | undefined): string {
  switch (pgType) {
    case 'int2':
    case 'int4':
    case 'float4':
    case 'float8':
    case 'bool':
      return `to_json(${v})`;
    case 'int8':
      return `CASE WHEN ${v} > ${MAX_SAFE} OR ${v} < -${MAX_SAFE} THEN json_build_object('$n', ${v}::text) ELSE to_json(${v}) END`;
    case 'numeric':
      return kind === 'integer'
        ? `CASE WHEN ${v} > ${MAX_SAFE} OR ${v} < -${MAX_SAFE} THEN json_build_object('$n', ${v}::text) ELSE to_json(${v}) END`
        : `to_json(${v}::text)`;
    case 'timestamptz':
      return `to_json(to_char(${v} AT TIME ZONE 'UTC', ${ISO_MS}))`;
    case 'timestamp':
      return `to_json(to_char(${v}, ${ISO_MS}))`;
    case 'date':
      return `to_json(to_char(${v}, 'YYYY-MM-DD'))`;
    case 'bytea':
      return `json_build_object('$b', translate(encode(${v}, 'base64'), E'\\n', ''))`;
    case 'uuid':
      return `to_json(lower(${v}::text))`;
    default:
      return `to_json(${v}::text)`;
  }
}

/**
 * The key as a JSON array text in wire form; `row` is NEW., OLD. or '' (a
 * plain SELECT). The text is what `json_build_array(parts)::text` gives
 * (elements joined by ", "), concatenated directly instead of built as a json
 * value first. With NOW_MS's date_part this took 2–4% off a capture trigger's
 * ~10 µs per row (EXPLAIN ANALYZE, three runs): the insert is the cost.
 */
export function keyJsonSql(t: TableSchema, live: LiveTypes, row: 'NEW.' | 'OLD.' | ''): string {
  const parts = t.primaryKey.map((c) => `(${keyValueJson(`${row}${q(c)}`, live.get(c), t.columns.find((x) => x.name === c)?.kind)})::text`);
  return `('[' || ${parts.join(" || ', ' || ")} || ']')`;
}

/** Column types without an equality operator (json, xml, point…) are compared as text. */
function differs(c: string, pgType: string | undefined): string {
  const plain = pgType !== undefined && /^(int[248]|float[48]|numeric|bool|text|varchar|bpchar|bytea|date|timestamp|timestamptz|time|timetz|uuid|jsonb|citext|name|oid|money|interval|inet|cidr|macaddr)$/.test(pgType);
  return plain ? `NEW.${q(c)} IS DISTINCT FROM OLD.${q(c)}` : `NEW.${q(c)}::text IS DISTINCT FROM OLD.${q(c)}::text`;
}

/**
 * The capture function and its AFTER trigger: each insert, update (changed
 * non-key columns only, as `a,b,`; nothing when none changed; a key change
 * as a delete of the old key and an insert of the new) and delete becomes a
 * row of _outpost_capture, unless the agent is applying.
 */
export function captureTriggersSql(t: TableSchema, live: LiveTypes, schema: string): string[] {
  const name = captureName(t.name);
  const cap = `${q(schema)}._outpost_capture`;
  const ins = (row: 'NEW' | 'OLD', op: string, cols: string): string =>
    `INSERT INTO ${cap} (tbl, pk, op, cols, ts) VALUES (${s(t.name)}, ${keyJsonSql(t, live, `${row}.`)}, '${op}', ${cols}, ${NOW_MS});`;
  const keyChanged = t.primaryKey.map((c) => `NEW.${q(c)} IS DISTINCT FROM OLD.${q(c)}`).join(' OR ');
  const counters = counterColumns(t).filter((c) => live.has(c));
  // A counter column is written `c=<NEW.c - OLD.c>` (HARD-PARTS §5), computed
  // as numeric so that no integer type overflows; with a NULL on either side
  // there is no delta, and it is written as a plain name.
  const changed = t.columns
    .filter((c) => !t.primaryKey.includes(c.name) && live.has(c.name))
    .map((c) => {
      const [n, o] = [`NEW.${q(c.name)}`, `OLD.${q(c.name)}`];
      const token = counters.includes(c.name)
        ? `concat(${s(c.name)}, CASE WHEN ${n} IS NOT NULL AND ${o} IS NOT NULL THEN '=' || (${n}::numeric - ${o}::numeric)::text END, ',')`
        : s(c.name + ',');
      return `CASE WHEN ${differs(c.name, live.get(c.name))} THEN ${token} END`;
    });
  // An insert records each counter's inserted value as `c=<value>` (see sqlite-capture.ts).
  const inserted = counters.length
    ? `NULLIF(concat(${counters.map((c) => `CASE WHEN NEW.${q(c)} IS NOT NULL THEN ${s(c + '=')} || NEW.${q(c)}::numeric::text || ',' END`).join(', ')}), '')`
    : 'NULL';
  const update = changed.length
    ? `c := concat(${changed.join(',\n        ')});
      IF c <> '' THEN ${ins('NEW', 'U', 'c')} END IF;`
    : 'NULL;';
  const fn = `CREATE OR REPLACE FUNCTION ${q(schema)}.${q(name)}() RETURNS trigger LANGUAGE plpgsql AS $outpost$
DECLARE c text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    ${ins('NEW', 'I', inserted)}
  ELSIF TG_OP = 'DELETE' THEN
    ${ins('OLD', 'D', 'NULL')}
  ELSIF ${keyChanged} THEN
    ${ins('OLD', 'D', 'NULL')}
    ${ins('NEW', 'I', inserted)}
  ELSE
    ${update}
  END IF;
  RETURN NULL;
END
$outpost$`;
  const trigger = `CREATE TRIGGER ${q(name)} AFTER INSERT OR UPDATE OR DELETE ON ${q(schema)}.${q(t.name)} FOR EACH ROW WHEN (${NOT_APPLYING}) EXECUTE FUNCTION ${q(schema)}.${q(name)}()`;
  return [fn, trigger];
}

/** A BEFORE trigger that refuses app writes to a table the hub owns (direction `down`). */
export function readonlyTriggersSql(t: TableSchema, schema: string): string[] {
  const name = readonlyName(t.name);
  const msg = s(`outpost: table ${t.name} is read-only on this node (direction down); its rows come from the hub`);
  return [
    `CREATE OR REPLACE FUNCTION ${q(schema)}.${q(name)}() RETURNS trigger LANGUAGE plpgsql AS $outpost$
BEGIN
  RAISE EXCEPTION USING MESSAGE = ${msg}, ERRCODE = 'insufficient_privilege';
END
$outpost$`,
    `CREATE TRIGGER ${q(name)} BEFORE INSERT OR UPDATE OR DELETE ON ${q(schema)}.${q(t.name)} FOR EACH ROW WHEN (${NOT_APPLYING}) EXECUTE FUNCTION ${q(schema)}.${q(name)}()`,
  ];
}

/** Drop both kinds of trigger (and their functions) of a table. */
export function dropTriggersSql(table: string, schema: string): string[] {
  return [captureName(table), readonlyName(table)].flatMap((n) => [
    `DROP TRIGGER IF EXISTS ${q(n)} ON ${q(schema)}.${q(table)}`,
    `DROP FUNCTION IF EXISTS ${q(schema)}.${q(n)}()`,
  ]);
}

/** Record the rows already in the table as inserts (initial state), timed now or at the epoch, in key order. */
export function initialCaptureSql(t: TableSchema, live: LiveTypes, schema: string, atEpoch: boolean): string {
  return `INSERT INTO ${q(schema)}._outpost_capture (tbl, pk, op, cols, ts) SELECT ${s(t.name)}, ${keyJsonSql(t, live, '')}, 'I', NULL, ${atEpoch ? '0' : NOW_MS} FROM ${q(schema)}.${q(t.name)} ORDER BY ${t.primaryKey.map(q).join(', ')}`;
}
