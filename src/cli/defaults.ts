/** The hub's database when `--db` is not given: the embedded default (SQLite). */
export const DEFAULT_HUB_DB = 'sqlite:./outpost-data/hub.db';
