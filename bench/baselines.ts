/**
 * What Outpost is compared with, written by hand the way a developer would
 * move the same rows without it, timed in this process (connections are
 * opened before the clock starts, as the CLI's own durationMs excludes its
 * start-up):
 *
 *   rawUpsert    1,000-row multi-row upserts into a hub database
 *   rawPipeline  a streaming SELECT from a hub database + 1,000-row upserts into a SQLite file
 *   naiveCopy    per row: SELECT it from one database, upsert it into the other
 *                (push: SQLite file → hub database; pull: hub database → SQLite file)
 *
 * Every statement commits on its own (1,000 rows at a time for the batched
 * ones, one row for the naive ones), with the durability settings Outpost's
 * SQLite adapter uses.
 */
import mysql from 'mysql2';
import { dialectOf, openAppDb } from './app-db.ts';
import type { ItemRow } from './data.ts';
import { BATCH_ROWS, chunks, itemValues, selectItemSql, selectItemsSql, upsertBatch, upsertItemsSql, writeBatches, type Batch } from './items-sql.ts';
import { seconds } from './stats.ts';

export type OnProgress = (rowsDone: number) => void;

/** Seconds to upsert `rows` into the items table of `url` (its statements built before the clock starts). */
export async function rawUpsert(url: string, rows: ItemRow[], onProgress?: OnProgress): Promise<number> {
  const db = await openAppDb(url);
  try {
    const batches = [...chunks(rows)].map((chunk) => upsertBatch(chunk, db.dialect));
    return await seconds(() => writeBatches(db, batches, onProgress));
  } finally {
    await db.close();
  }
}

/** Seconds to copy every item of the hub database `from` into the SQLite database `to` (which has the schema). */
export async function rawPipeline(from: string, to: string, onProgress?: OnProgress): Promise<number> {
  const source = dialectOf(from) === 'mysql' ? await mysqlItemStream(from) : await postgresItemStream(from);
  try {
    const target = await openAppDb(to);
    try {
      return await seconds(async () => {
        let done = 0;
        for await (const chunk of source.items()) {
          const batch: Batch = { sql: upsertItemsSql('sqlite', chunk.length), params: chunk.flat(), rows: chunk.length };
          await writeBatches(target, [batch]);
          onProgress?.((done += chunk.length));
        }
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

interface ItemStream {
  /** every item, as value arrays in column order, in chunks of 1,000 */
  items(): AsyncGenerator<unknown[][]>;
  close(): Promise<void>;
}

/** mysql2's streaming query: rows arrive as the server sends them. */
async function mysqlItemStream(url: string): Promise<ItemStream> {
  const conn = mysql.createConnection({ uri: url, charset: 'utf8mb4', timezone: 'Z', dateStrings: true, rowsAsArray: true });
  await new Promise<void>((resolve, reject) => conn.connect((e) => (e ? reject(e) : resolve())));
  return {
    async *items() {
      let chunk: unknown[][] = [];
      for await (const row of conn.query(selectItemsSql).stream({ highWaterMark: BATCH_ROWS })) {
        chunk.push(row as unknown[]);
        if (chunk.length === BATCH_ROWS) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length) yield chunk;
    },
    close: () => new Promise<void>((r) => conn.end(() => r())),
  };
}

/** A server-side cursor (DECLARE … CURSOR, FETCH 1000) inside one read transaction. */
async function postgresItemStream(url: string): Promise<ItemStream> {
  const db = await openAppDb(url);
  return {
    async *items() {
      await db.run('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await db.run(`DECLARE items_cursor NO SCROLL CURSOR FOR ${selectItemsSql}`);
      for (;;) {
        const rows = await db.all(`FETCH ${BATCH_ROWS} FROM items_cursor`);
        if (rows.length === 0) break;
        yield rows.map((r) => itemValues(r, 'sqlite'));
      }
      await db.run('COMMIT');
    },
    close: () => db.close(),
  };
}

/** Seconds to copy the items with `ids` from database `from` to database `to`, one row and one commit at a time. */
export async function naiveCopy(from: string, to: string, ids: string[], onProgress?: OnProgress): Promise<number> {
  const source = await openAppDb(from);
  try {
    const target = await openAppDb(to);
    const upsertOne = upsertItemsSql(target.dialect, 1);
    try {
      return await seconds(async () => {
        for (let i = 0; i < ids.length; i++) {
          const [row] = await source.all(selectItemSql, [ids[i]]);
          if (!row) throw new Error(`bench: item ${ids[i]} is missing from ${from}`);
          await target.run(upsertOne, itemValues(row, target.dialect));
          if (i % 100 === 99) onProgress?.(i + 1);
        }
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
