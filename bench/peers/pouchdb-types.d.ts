/**
 * Minimal local types for the PouchDB comparison peer: only what
 * bench/peers/pouchdb*.ts use. Not @types/pouchdb: that is written for
 * PouchDB 6 (we run 9) and brings in some twenty @types/pouchdb-* packages.
 * express-pouchdb has no @types. For express, the server uses only express(),
 * use() and listen(), so it is declared here too and @types/express is not added.
 */

declare module 'pouchdb' {
  namespace PouchDB {
    /** Options for `new PouchDB(name, options)` and `PouchDB.defaults(options)`. */
    interface DatabaseOptions {
      /** Prepended to every database name (with leveldb: a directory path ending in '/'). */
      prefix?: string;
      adapter?: string;
      skip_setup?: boolean;
    }

    interface Info {
      db_name: string;
      doc_count: number;
      update_seq: number | string;
      adapter?: string;
    }

    /** A new document: `_id` plus the document's own fields. */
    type NewDocument = { _id: string } & Record<string, string | number | boolean | null>;

    interface BulkDocsResult {
      ok?: boolean;
      id?: string;
      rev?: string;
      error?: boolean | string;
      name?: string;
      status?: number;
      reason?: string;
      message?: string;
    }

    /** What a replication reports in its 'change' events and its result (counts are cumulative). */
    interface ReplicationResult {
      ok?: boolean;
      status?: string;
      docs_read: number;
      docs_written: number;
      doc_write_failures: number;
      errors: unknown[];
      start_time?: string;
      end_time?: string;
      last_seq?: number | string;
    }

    /** One-shot replication options (left at their defaults by the bench). */
    interface ReplicateOptions {
      live?: boolean;
      retry?: boolean;
      batch_size?: number;
      batches_limit?: number;
    }

    /** An event emitter that is also a promise of the final result. */
    interface Replication extends PromiseLike<ReplicationResult> {
      on(event: 'change', listener: (info: ReplicationResult) => void): this;
      on(event: 'complete', listener: (info: ReplicationResult) => void): this;
      on(event: 'error' | 'denied', listener: (err: unknown) => void): this;
      on(event: 'paused' | 'active', listener: () => void): this;
      cancel(): void;
    }

    interface Database {
      readonly name: string;
      info(): Promise<Info>;
      bulkDocs(docs: readonly NewDocument[]): Promise<BulkDocsResult[]>;
      close(): Promise<void>;
      destroy(): Promise<void>;
      readonly replicate: {
        to(target: string | Database, options?: ReplicateOptions): Replication;
        from(source: string | Database, options?: ReplicateOptions): Replication;
      };
    }

    interface Static {
      new (name: string, options?: DatabaseOptions): Database;
      defaults(options: DatabaseOptions): Static;
    }
  }

  const PouchDB: PouchDB.Static;
  export = PouchDB;
}

declare module 'express-pouchdb' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type PouchDB from 'pouchdb';

  namespace expressPouchDB {
    interface Options {
      /** 'fullCouchDB' (the default), 'minimumForPouchDB' or 'custom'. */
      mode?: 'fullCouchDB' | 'minimumForPouchDB' | 'custom';
      overrideMode?: { include?: string[]; exclude?: string[] };
      /** Where the CouchDB-style config is kept (default ./config.json); unused when inMemoryConfig. */
      configPath?: string;
      inMemoryConfig?: boolean;
      /** The log file (default ./log.txt); only with the 'logging-infrastructure' part. */
      logPath?: string;
    }
    /** express-pouchdb returns an express 4 application, which is a request handler. */
    interface App {
      (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
    }
  }

  function expressPouchDB(PouchDB: PouchDB.Static, options?: expressPouchDB.Options): expressPouchDB.App;
  export = expressPouchDB;
}

declare module 'express' {
  import type { IncomingMessage, ServerResponse, Server } from 'node:http';

  namespace express {
    type Handler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
    interface Application extends Handler {
      use(handler: Handler): this;
      disable(setting: string): this;
      listen(port: number, hostname: string, callback?: (err?: Error) => void): Server;
    }
  }

  function express(): express.Application;
  export = express;
}
