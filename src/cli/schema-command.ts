import { openDb } from './secrets.ts';
import { loadHubConfig } from '../hub/config.ts';
import { Hub } from '../hub/hub.ts';
import { DEFAULT_CONFIG } from './hub-command.ts';
import { emit } from './output.ts';

/**
 * `outpost schema refresh`: pick up nullable columns added to synced tables
 * of the hub database. Running hubs follow at their next handshake; nodes
 * take the columns on at their next sync.
 */
export async function schemaRefresh(o: { db: string; config?: string; json?: boolean }): Promise<void> {
  const config = loadHubConfig(o.config ?? DEFAULT_CONFIG);
  const db = await openDb(o.db, { mustExist: true });
  try {
    // Opening the hub is the refresh: columns added since it last ran are picked up.
    const hub = await Hub.open(db, config, { strictSchema: true });
    const version = hub.catalogue.version;
    const added = [...hub.addedColumns];
    emit(!!o.json, { ok: true, schemaVersion: version, added }, added.length ? `schema ${version}: added ${added.join(', ')}` : `schema ${version}: up to date`);
  } finally {
    await db.close();
  }
}
