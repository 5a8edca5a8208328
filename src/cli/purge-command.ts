import { openDb } from './secrets.ts';
import { OutpostError } from '../protocol/index.ts';
import { loadHubConfig } from '../hub/config.ts';
import { purgeHub } from '../hub/purge.ts';
import { DEFAULT_CONFIG } from './hub-command.ts';
import { emit } from './output.ts';

/**
 * `outpost purge`: purge the hub database's change log and delete markers
 * that every node seen within the retention horizon has pulled past (what a
 * running hub does every `retention.purgeEverySeconds`).
 */
export async function purge(o: { db: string; config?: string; json?: boolean }): Promise<void> {
  const config = loadHubConfig(o.config ?? DEFAULT_CONFIG);
  const db = await openDb(o.db, { mustExist: true });
  try {
    const role = await db.read((tx) => tx.getState('role')).catch(() => null);
    if (role !== 'hub') throw new OutpostError('BAD_REQUEST', `${db.description} is not a hub database (start \`outpost hub\` on it first)`);
    const r = await purgeHub(db, config.retention, Date.now());
    emit(!!o.json, { ok: true, ...r }, [
      `purged ${r.log} log entries, ${r.markers} delete markers, ${r.staged} staged push pages; log purged through seq ${r.purgedThrough}`,
      `  live nodes: ${r.live.length ? r.live.join(', ') : 'none'}${r.expired.length ? `   away longer than the horizon (fresh snapshot at next sync): ${r.expired.join(', ')}` : ''}`,
    ].join('\n'));
  } finally {
    await db.close();
  }
}
