import { OutpostError, type KeyRange, type TableSchema } from '../protocol/index.ts';
import type { Tx } from '../adapters/adapter.ts';

/** What a node keeps about itself, in its own database (`_outpost_state`). */
export interface NodeState {
  nodeId: string;
  nodeName: string;
  hubUrl: string;
  token: string;
  /** hub log position everything before which is applied here */
  cursor: number;
  /** highest local capture sequence the hub has committed */
  acked: number;
  /** the end of the push group last sent (its reply may have been lost) */
  pushTo: number;
  clock: string | null;
  schemaVersion: string | null;
  tables: TableSchema[];
  /**
   * 'none' before the first snapshot, 'partial' if one broke off, 'done';
   * 'refresh' while a fresh snapshot over the node's data is due or under way
   * (the hub purged log entries past the node's cursor)
   */
  snapshot: 'none' | 'partial' | 'done' | 'refresh';
  lastSyncAt: number | null;
  lastError: string | null;
  /** generated integer keys this node may create (given at enrollment) */
  keyRange: KeyRange | null;
  /** the hub's `purgedHlc` this node last dropped its delete markers up to */
  markersDroppedTo: string | null;
  /**
   * the PEM text of the CA trusted for an https:// hub (`--ca` at join, or the
   * last `--ca` a sync succeeded with); null: the default trust store
   */
  hubCa: string | null;
}

export async function readNodeState(tx: Tx): Promise<NodeState> {
  const all = await tx.allState();
  const get = (k: string): string | null => all.get(k) ?? null;
  if (get('role') !== 'node') throw new OutpostError('NOT_ENROLLED', 'this database has not joined a hub: run `outpost join --hub URL --code CODE --db URL` first');
  const tables = get('tables');
  const lastSync = get('last_sync_at');
  return {
    nodeId: get('node_id') ?? '',
    nodeName: get('node_name') ?? '',
    hubUrl: get('hub_url') ?? '',
    token: get('token') ?? '',
    cursor: Number(get('cursor') ?? 0),
    acked: Number(get('acked') ?? 0),
    pushTo: Number(get('push_to') ?? 0),
    clock: get('clock'),
    schemaVersion: get('schema_version'),
    tables: tables ? parsedTables(tables) : [],
    snapshot: (get('snapshot') ?? 'none') as NodeState['snapshot'],
    lastSyncAt: lastSync ? Number(lastSync) : null,
    lastError: get('last_error'),
    keyRange: get('key_range') ? (JSON.parse(get('key_range')!) as KeyRange) : null,
    markersDroppedTo: get('markers_dropped_to'),
    hubCa: get('hub_ca'),
  };
}

/** The last catalogue parsed (a node's state is read on every sync and live page; its catalogue rarely changes). */
let lastTables: { text: string; tables: TableSchema[] } | null = null;

function parsedTables(text: string): TableSchema[] {
  if (lastTables?.text !== text) lastTables = { text, tables: JSON.parse(text) as TableSchema[] };
  // A copy of the list: callers may not share one array (its table objects are not modified).
  return [...lastTables.tables];
}

const KEYS: Record<keyof NodeState, string> = {
  nodeId: 'node_id', nodeName: 'node_name', hubUrl: 'hub_url', token: 'token', cursor: 'cursor', acked: 'acked', pushTo: 'push_to',
  clock: 'clock', schemaVersion: 'schema_version', tables: 'tables', snapshot: 'snapshot', lastSyncAt: 'last_sync_at', lastError: 'last_error', keyRange: 'key_range',
  markersDroppedTo: 'markers_dropped_to', hubCa: 'hub_ca',
};

export async function writeNodeState(tx: Tx, patch: Partial<NodeState>): Promise<void> {
  for (const [k, v] of Object.entries(patch) as [keyof NodeState, unknown][]) {
    const text = v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);
    await tx.setState(KEYS[k], text);
  }
}
