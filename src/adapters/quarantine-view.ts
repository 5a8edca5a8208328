import type { Change, WireValue } from '../protocol/index.ts';
import type { QuarantineEntry, QuarantineStatus } from './adapter.ts';

/** A quarantined change as the admin API and `outpost quarantine --json` show it. */
export interface QuarantineView {
  id: number;
  at: string;
  /** node id (hub); `hub` for a change pulled from the hub (node) */
  origin: string;
  /** the origin node's name, where known */
  originName: string | null;
  table: string;
  pk: WireValue[];
  op: 'I' | 'U' | 'D';
  change: Change;
  code: string;
  message: string;
  status: QuarantineStatus;
  attempts: number;
  resolvedAt: string | null;
  resolvedBy: string | null;
  /** node: the hub's id of this entry, where it records this node's own change that the hub quarantined */
  hubId?: number;
}

export function quarantineView(e: QuarantineEntry, names: ReadonlyMap<string, string> = new Map()): QuarantineView {
  const v: QuarantineView = {
    id: e.id, at: new Date(e.at).toISOString(), origin: e.origin, originName: names.get(e.origin) ?? null, table: e.table,
    pk: JSON.parse(e.pk) as WireValue[], op: e.op, change: JSON.parse(e.change) as Change, code: e.code, message: e.message,
    status: e.status, attempts: e.attempts, resolvedAt: e.resolvedAt === null ? null : new Date(e.resolvedAt).toISOString(), resolvedBy: e.resolvedBy,
  };
  if (e.hubId !== null) v.hubId = e.hubId;
  return v;
}

