import { z } from 'zod';
import { wireValueSchema } from './values.ts';
import { tableSchema } from './schema.ts';

const hlc = z.string().regex(/^\d{15}-[0-9a-f]{8}-.{1,64}$/, 'an HLC stamp');
const ident = z.string().min(1).max(128);

/**
 * One change to one row. `cols` holds the new values of the changed columns
 * (all columns for an insert, none for a delete). Every column carries the
 * stamp `hlc` unless `colHlc` names another one for it.
 */
export const changeSchema = z
  .object({
    table: ident,
    pk: z.array(wireValueSchema).min(1).max(16),
    op: z.enum(['I', 'U', 'D']),
    hlc,
    cols: z.record(ident, wireValueSchema).optional(),
    colHlc: z.record(ident, hlc).optional(),
    /**
     * counter columns (`columnPolicies` = `counter`) of an update: the amount
     * each changed by, added to the receiver's value (never in `cols` too)
     */
    deltas: z.record(ident, z.number().int().refine(Number.isSafeInteger, 'a safe integer')).optional(),
    /** the node the change came from; set by the hub on pull, ignored on push */
    origin: z.string().optional(),
    /**
     * the hub's whole state of the row at this point of its log (a
     * restatement): a node adopts it as it is, row and stamps, unless it has
     * local changes to the row not yet pushed. Only the hub sends it.
     */
    restate: z.literal(true).optional(),
  })
  .strict();
export type Change = z.infer<typeof changeSchema>;

export const joinRequestSchema = z.object({ code: z.string().min(8).max(200) }).strict();
export type JoinRequest = z.infer<typeof joinRequestSchema>;
/**
 * `POST /v1/rotate` (issue 7): empty, with the node's credential, for a new
 * credential; or a code from `outpost node rotate` and the node's id, without
 * a credential. The answer has the shape of the join response.
 */
export const rotateRequestSchema = z.object({ code: z.string().min(8).max(200).optional(), nodeId: z.string().min(1).max(191).optional() }).strict();
export type RotateRequest = z.infer<typeof rotateRequestSchema>;
export const joinResponseSchema = z.object({
  nodeId: z.string(),
  nodeName: z.string(),
  token: z.string(),
  protocol: z.number().int(),
});
export type JoinResponse = z.infer<typeof joinResponseSchema>;

export const handshakeRequestSchema = z
  .object({ protocol: z.number().int(), schemaVersion: z.string().max(128).nullable(), clock: hlc.optional() })
  .strict();
export type HandshakeRequest = z.infer<typeof handshakeRequestSchema>;
export const handshakeResponseSchema = z.object({
  protocol: z.number().int(),
  schemaVersion: z.string(),
  nodeId: z.string(),
  clock: hlc,
  tables: z.array(tableSchema),
  /** the highest local sequence of this node the hub has committed */
  acked: z.number().int(),
  /** the integer keys this node may create in tables with auto-increment keys (given at enrollment) */
  keyRange: z.object({ lo: z.number().int().positive(), hi: z.number().int().positive() }).strict().optional(),
  /**
   * the hub has purged its log through this seq: a node whose cursor is
   * below it pushes its changes, then takes a fresh snapshot (absent: nothing purged)
   */
  purgedThrough: z.number().int().nonnegative().optional(),
  /** the newest stamp of a delete the hub has purged: a node drops its own delete markers up to it, except of rows with pending changes */
  purgedHlc: hlc.optional(),
});
export type HandshakeResponse = z.infer<typeof handshakeResponseSchema>;
/** The generated integer keys a node may create, given at enrollment. */
export type KeyRange = NonNullable<HandshakeResponse['keyRange']>;

/**
 * A push page. A group is every captured change with local sequence in
 * (from, to]; it may be sent as several pages that the hub stages and
 * commits as one transaction when the last page arrives.
 */
export const pushRequestSchema = z
  .object({
    from: z.number().int().nonnegative(),
    to: z.number().int().nonnegative(),
    page: z.number().int().nonnegative(),
    pages: z.number().int().positive().max(100_000),
    /** the node's pull cursor: log entries after it are ones the node has not applied yet */
    cursor: z.number().int().nonnegative(),
    clock: hlc,
    changes: z.array(changeSchema).max(50_000),
  })
  .strict()
  .refine((p) => p.to > p.from, { message: 'to must be greater than from' })
  .refine((p) => p.page < p.pages, { message: 'page must be below pages' });
export type PushRequest = z.infer<typeof pushRequestSchema>;
export const pushResponseSchema = z.object({
  /** the highest local sequence the hub has committed for this node */
  ack: z.number().int(),
  /** true when the group was committed by an earlier request (a retry) */
  duplicate: z.boolean(),
  /** true while further pages are awaited */
  staged: z.boolean(),
  applied: z.number().int(),
  conflicts: z.number().int(),
  clock: hlc,
  /**
   * changes of this group the hub could not apply (a unique index, a check,
   * a missing parent): kept in the hub's quarantine with their error, for an
   * admin to retry or discard; the rest of the group was applied
   */
  quarantined: z
    .array(z.object({ id: z.number().int(), table: z.string(), pk: z.array(wireValueSchema), op: z.enum(['I', 'U', 'D']), code: z.string(), message: z.string() }))
    .optional(),
});
export type PushResponse = z.infer<typeof pushResponseSchema>;

export const pullResponseSchema = z.object({
  changes: z.array(changeSchema),
  /** the position to pull after next time */
  cursor: z.number().int(),
  /** the end of the log when this page was read */
  head: z.number().int(),
  more: z.boolean(),
  clock: hlc,
});
export type PullResponse = z.infer<typeof pullResponseSchema>;

/** Snapshot lines (NDJSON): one header, rows, one end line. */
export const snapshotHeaderSchema = z.object({
  type: z.literal('header'),
  cursor: z.number().int(),
  schemaVersion: z.string(),
  clock: hlc,
  tables: z.array(tableSchema),
});
export const snapshotRowSchema = z.object({
  type: z.literal('row'),
  table: z.string(),
  values: z.array(wireValueSchema),
  hlc,
  colHlc: z.record(z.string(), hlc).optional(),
});
export const snapshotEndSchema = z.object({ type: z.literal('end'), rows: z.number().int() });
export const snapshotLineSchema = z.discriminatedUnion('type', [snapshotHeaderSchema, snapshotRowSchema, snapshotEndSchema]);
export type SnapshotLine = z.infer<typeof snapshotLineSchema>;
export type SnapshotHeader = z.infer<typeof snapshotHeaderSchema>;
export type SnapshotRow = z.infer<typeof snapshotRowSchema>;

/**
 * `outpost verify`: a node compares its copy of a table with the hub's by
 * per-bucket digests (buckets are hash ranges of the canonical key, the same
 * on every dialect), then by row digests of the buckets that differ, then
 * fetches the hub's version of the rows that differ.
 */
const digest = z.string().regex(/^[0-9a-f]{32}$/, 'a 16-byte digest as 32 lowercase hex digits');
/** The most buckets one verify request may name. */
export const VERIFY_MAX_BUCKETS = 4096;
/** The most rows one verify fetch may ask for. */
export const VERIFY_MAX_FETCH = 1000;
const bucketCount = z.number().int().min(1).max(VERIFY_MAX_BUCKETS);

export const verifySumsRequestSchema = z
  .object({ table: ident, buckets: bucketCount, schemaVersion: z.string().max(128) })
  .strict();
export type VerifySumsRequest = z.infer<typeof verifySumsRequestSchema>;
export const verifySumsResponseSchema = z.object({
  table: z.string(),
  buckets: z.number().int(),
  /** rows in the hub's table */
  rows: z.number().int(),
  /** per bucket: [row count, XOR of the row digests] */
  sums: z.array(z.tuple([z.number().int().nonnegative(), digest])),
});
export type VerifySumsResponse = z.infer<typeof verifySumsResponseSchema>;

export const verifyRowsRequestSchema = z
  .object({ table: ident, buckets: bucketCount, ids: z.array(z.number().int().nonnegative()).min(1).max(VERIFY_MAX_BUCKETS) })
  .strict()
  .refine((r) => r.ids.every((i) => i < r.buckets), { message: 'bucket ids must be below buckets' });
export type VerifyRowsRequest = z.infer<typeof verifyRowsRequestSchema>;
export const verifyRowsResponseSchema = z.object({
  table: z.string(),
  rows: z.array(z.object({ pk: z.array(wireValueSchema), digest })),
});
export type VerifyRowsResponse = z.infer<typeof verifyRowsResponseSchema>;

export const verifyFetchRequestSchema = z
  .object({
    table: ident,
    pks: z.array(z.array(wireValueSchema).min(1).max(16)).min(1).max(VERIFY_MAX_FETCH),
    /** the node's pull cursor: rows with log entries after it (not from this node) are in flight */
    after: z.number().int().nonnegative(),
  })
  .strict();
export type VerifyFetchRequest = z.infer<typeof verifyFetchRequestSchema>;
export const verifyFetchResponseSchema = z.object({
  table: z.string(),
  rows: z.array(z.object({
    pk: z.array(wireValueSchema),
    /** every column of the hub's row, or null where the hub has no such row */
    values: z.record(ident, wireValueSchema).nullable(),
    /** the hub's row stamp (of the row or of its delete), null where it has none */
    hlc: hlc.nullable(),
    colHlc: z.record(ident, hlc).optional(),
    /** the row has hub log entries after `after` that did not come from this node */
    logAfter: z.boolean(),
  })),
});
export type VerifyFetchResponse = z.infer<typeof verifyFetchResponseSchema>;

/**
 * Live mode (`GET /v1/live`, a WebSocket; docs/live.md). The hub sends
 * `hello` once the socket is open, and `poke` after a commit that touched
 * what the node receives. A node that opened the socket with `?pages=1` may
 * get the commit's changes in the poke (`page`): exactly the pull page after
 * `page.from` up to `head` as this node would pull it; a node whose cursor is
 * `page.from` applies it without a round trip, any other pulls as usual. The
 * node sends one `hello` (optionally with its cursor) and, after applying
 * pages, `ack` with its cursor (the hub records it as a pull's position);
 * anything else closes the socket (LIVE_CLOSE.badMessage).
 */
export const liveHelloSchema = z.object({ type: z.literal('hello'), head: z.number().int().min(0), nodeId: z.string().min(1).max(191) }).strict();
export const livePageSchema = z.object({
  /** the log position the page starts after: only a node whose cursor is here may apply it */
  from: z.number().int().min(0),
  changes: z.array(changeSchema),
  /** the hub's clock, as a pull response carries it */
  clock: hlc,
}).strict();
export type LivePage = z.infer<typeof livePageSchema>;
export const livePokeSchema = z.object({ type: z.literal('poke'), head: z.number().int().min(0), page: livePageSchema.optional() }).strict();
export const liveServerMessageSchema = z.discriminatedUnion('type', [liveHelloSchema, livePokeSchema]);
export type LiveServerMessage = z.infer<typeof liveServerMessageSchema>;
const liveCursor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const liveClientMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), cursor: liveCursor.optional() }).strict(),
  z.object({ type: z.literal('ack'), cursor: liveCursor }).strict(),
]);
export type LiveClientMessage = z.infer<typeof liveClientMessageSchema>;

/** The largest WebSocket message either side accepts on /v1/live (bytes). */
export const LIVE_MAX_PAYLOAD = 64 * 1024;

/** Close codes of /v1/live (4000–4999 are the application's). */
export const LIVE_CLOSE = {
  /** the hub is shutting down */
  goingAway: 1001,
  /** a message larger than LIVE_MAX_PAYLOAD (set by the ws library) */
  tooBig: 1009,
  /** a message that is not JSON or not a LiveClientMessage */
  badMessage: 4400,
  /** the node was revoked or re-keyed while connected */
  revoked: 4401,
} as const;
