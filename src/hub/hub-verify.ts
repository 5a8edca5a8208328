import {
  OutpostError, pkKey, type TableSchema, type VerifyFetchRequest, type VerifyFetchResponse, type VerifyRowsRequest,
  type VerifyRowsResponse, type VerifySumsRequest, type VerifySumsResponse,
} from '../protocol/index.ts';
import { bucketRows, rowPk, tableSums } from '../engine/index.ts';
import type { NodeRecord } from '../adapters/adapter.ts';
import type { Hub } from './hub.ts';

/**
 * The hub's side of `outpost verify` (docs/protocol.md, "Verify"): bucket
 * sums and row digests of a table the node receives, and the hub's rows with
 * their stamps. Read only, apart from sequencing pending website writes first
 * (so that they count as log entries after the node's cursor, i.e. in flight).
 */
export async function verifySums(hub: Hub, node: NodeRecord, req: VerifySumsRequest): Promise<VerifySumsResponse> {
  const table = verifiableTable(hub, req.table);
  if (req.schemaVersion !== hub.catalogue.version) {
    throw new OutpostError('SCHEMA_MISMATCH', `the hub's schema is ${hub.catalogue.version}, the node's ${req.schemaVersion}; sync first, then verify`, { hub: hub.catalogue.version, node: req.schemaVersion });
  }
  await hub.sequencePending();
  // Rows outside the node's read scope count as absent, here and below.
  const keep = await hub.readFilter(node, table);
  const sums = await hub.db.read((tx) => tableSums(tx, table, req.buckets, undefined, keep));
  return { table: table.name, buckets: req.buckets, rows: sums.rows, sums: sums.toWire() };
}

export async function verifyRows(hub: Hub, node: NodeRecord, req: VerifyRowsRequest): Promise<VerifyRowsResponse> {
  const table = verifiableTable(hub, req.table);
  const keep = await hub.readFilter(node, table);
  const rows = await hub.db.read((tx) => bucketRows(tx, table, req.buckets, new Set(req.ids), keep));
  return { table: table.name, rows };
}

export async function verifyFetch(hub: Hub, node: NodeRecord, req: VerifyFetchRequest): Promise<VerifyFetchResponse> {
  const table = verifiableTable(hub, req.table);
  for (const pk of req.pks) {
    if (pk.length !== table.primaryKey.length) {
      throw new OutpostError('BAD_KEY', `table ${table.name} has a key of ${table.primaryKey.length} column(s), got ${pk.length}`, { table: table.name, pk });
    }
  }
  await hub.sequencePending();
  const keep = await hub.readFilter(node, table);
  return hub.db.read(async (tx) => {
    const keys = req.pks.map((pk) => pkKey(pk));
    const rows = await tx.getRows(table, req.pks);
    const metas = await tx.getMeta(table.name, keys);
    const out: VerifyFetchResponse['rows'] = [];
    for (let i = 0; i < req.pks.length; i++) {
      const key = keys[i]!;
      // A case- or accent-insensitive collation finds 'beta' for 'BETA': not the same row.
      const found = rows.get(key);
      const row = found && pkKey(rowPk(table, found)) === key && (!keep || keep(found)) ? found : undefined;
      // A row the node may not see: as if the hub had none (no values, no stamps).
      const meta = row || !keep ? metas.get(key) : undefined;
      const values = row ? Object.fromEntries(table.columns.map((c) => [c.name, row[c.name] ?? null])) : null;
      const entry: VerifyFetchResponse['rows'][number] = { pk: req.pks[i]!, values, hlc: meta?.hlc ?? null, logAfter: await tx.hasLogAfter(table.name, key, req.after, node.id) };
      if (meta && Object.keys(meta.colHlc).length) entry.colHlc = { ...meta.colHlc };
      out.push(entry);
    }
    return { table: table.name, rows: out };
  });
}

/** A table of the catalogue whose rows nodes receive (`both` or `down`). */
function verifiableTable(hub: Hub, name: string): TableSchema {
  const table = hub.catalogue.byName.get(name);
  if (!table) throw new OutpostError('UNKNOWN_TABLE', `table ${name} is not synced by this hub`, { table: name });
  if (table.direction === 'up') throw new OutpostError('TABLE_NOT_SENT', `table ${name} is sent up only (direction up); its rows never leave the hub, so nodes cannot verify it`, { table: name });
  return table;
}
