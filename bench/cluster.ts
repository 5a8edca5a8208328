/**
 * A hub and its nodes, all real processes: a fresh hub database with the
 * OIMS schema, `outpost hub` serving it on 127.0.0.1, and nodes enrolled
 * with `outpost node add` and joined with `outpost join` (SQLite files
 * unless told otherwise). Everything goes when the scope closes.
 */
import { join } from 'node:path';
import { openAppDb, type AppDb, type ServerDialect } from './app-db.ts';
import { OIMS_CONFIG, serverDatabase, tempDir } from './databases.ts';
import { outpost, startHub, syncResult, type HubProcess, type SyncResult } from './processes.ts';
import type { Scope } from './scope.ts';

export interface Cluster {
  dialect: ServerDialect;
  /** the hub database's URL */
  hubDb: string;
  hub: HubProcess;
  /** a temporary directory for node files */
  dir: string;
  /** Enroll a node and join it (into a new SQLite file unless `db` is given, through `hubUrl` if given). */
  join(name: string, opts?: { db?: string; hubUrl?: string }): Promise<Node>;
}

export interface Node {
  name: string;
  /** the node database's URL */
  db: string;
  /** what `outpost join` did: the first snapshot and pull */
  joined: SyncResult;
  sync(): Promise<SyncResult>;
}

export interface ClusterOptions {
  /** write rows into the hub database before the hub starts (as an existing website's data) */
  load?: (hubDb: AppDb) => Promise<void>;
}

export async function startCluster(scope: Scope, dialect: ServerDialect, opts: ClusterOptions = {}): Promise<Cluster> {
  const dir = tempDir(scope);
  const hubDb = await serverDatabase(scope, dialect, { schema: true });
  if (opts.load) {
    const db = await openAppDb(hubDb);
    try {
      await opts.load(db);
    } finally {
      await db.close();
    }
  }
  const hub = await startHub(hubDb, OIMS_CONFIG);
  scope.defer(() => hub.stop());
  return {
    dialect,
    hubDb,
    hub,
    dir,
    async join(name, o = {}) {
      const db = o.db ?? `sqlite:${join(dir, `${name}.db`)}`;
      const code = (await outpost(['node', 'add', name, '--db', hubDb])).stdout.trim();
      const joined = syncResult(await outpost(['join', '--hub', o.hubUrl ?? hub.url, '--code', code, '--db', db, '--json']));
      return { name, db, joined, sync: async () => syncResult(await outpost(['sync', '--db', db, '--json'])) };
    },
  };
}
