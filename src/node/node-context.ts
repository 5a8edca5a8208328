import type { HlcClock, TableSchema } from '../protocol/index.ts';
import type { Adapter } from '../adapters/adapter.ts';
import type { HubClient } from './hub-client.ts';

/** What push, pull and snapshot share while one node syncs. */
export interface NodeContext {
  db: Adapter;
  client: HubClient;
  clock: HlcClock;
  catalogue: Map<string, TableSchema>;
  nodeId: string;
  /** the lab clock's error against this machine's, injected by tests */
  skewMs: number;
  /** changes per push page and per applied pull page */
  pageSize: number;
  progress?: (what: string, done: number, total?: number) => void;
}
