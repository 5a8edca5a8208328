/**
 * One error type with a catalogue of stable codes. Every code is documented
 * in docs/errors.md (a test checks it) and the hub answers each as
 * application/problem+json with the HTTP status below.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  INVALID_JSON: { status: 400, title: 'The request body is not valid JSON' },
  VALIDATION_FAILED: { status: 400, title: 'The request does not match the protocol schema' },
  UNKNOWN_TABLE: { status: 400, title: 'The table is not synced by this hub' },
  UNKNOWN_COLUMN: { status: 400, title: 'The column is not in the table' },
  BAD_VALUE: { status: 400, title: 'A value does not fit its column' },
  BAD_KEY: { status: 400, title: 'A primary key has the wrong shape for its table' },
  BODY_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body must be JSON' },
  UNAUTHORIZED: { status: 401, title: 'Missing, unknown or revoked credential' },
  ENROLLMENT_CODE_INVALID: { status: 401, title: 'The enrollment code is unknown, expired or was already used' },
  TABLE_READ_ONLY: { status: 403, title: 'The table is read-only on nodes (direction down)' },
  TABLE_NOT_SENT: { status: 403, title: "The table's rows are not sent to nodes (direction up)" },
  OUT_OF_SCOPE: { status: 403, title: "The change touches rows outside the node's write scope" },
  PROTOCOL_MISMATCH: { status: 426, title: 'The node speaks another protocol version' },
  SCHEMA_MISMATCH: { status: 409, title: 'The node and the hub have different schema versions' },
  PUSH_OUT_OF_ORDER: { status: 409, title: 'A push page arrived out of order' },
  APPLY_FAILED: { status: 409, title: 'A change breaks a constraint of the receiving database' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  ADMIN_UNAUTHORIZED: { status: 401, title: 'The admin API needs an admin session (or the admin token)' },
  ADMIN_DISABLED: { status: 403, title: 'The admin API is off: the hub has no admin accounts and no admin token' },
  FORBIDDEN: { status: 403, title: "The admin's role does not allow this request" },
  RATE_LIMITED: { status: 429, title: 'Too many failed attempts from this address; retry later' },
  ALREADY_RESOLVED: { status: 409, title: 'The conflict or quarantined change was already resolved' },
  NODE_EXISTS: { status: 409, title: 'A node with that name exists already' },
  KEY_COLLISION: { status: 409, title: 'A new row from a node has the key of a different row the hub already has' },
  CURSOR_EXPIRED: { status: 410, title: "The hub has purged the change log entries after the node's cursor" },
  KEY_OUT_OF_RANGE: { status: 409, title: "A new row's generated key is outside the node's key range" },
  CLOCK_AHEAD: { status: 409, title: "The node's clock is too far ahead of the hub's" },
  CONFIG_INVALID: { status: 500, title: 'The hub configuration is invalid' },
  DB_URL_INVALID: { status: 500, title: 'The database URL is not understood' },
  DB_UNREACHABLE: { status: 503, title: 'The database server could not be reached or refused the login' },
  DB_BUSY: { status: 503, title: 'The database aborted a transaction that conflicted with another (deadlock, lock wait timeout, serialization); it was rolled back' },
  DISK_FULL: { status: 507, title: 'The disk holding the database is full' },
  DB_IO_ERROR: { status: 500, title: 'The database file could not be read or written' },
  SCHEMA_INVALID: { status: 500, title: 'A synced table cannot be synced as it is' },
  NODE_STATE_BEHIND: { status: 500, title: "The hub has acknowledged more of this node's changes than this database sent" },
  NOT_ENROLLED: { status: 500, title: 'This database has not joined a hub' },
  PORT_UNAVAILABLE: { status: 500, title: 'The hub cannot listen on that address' },
  HUB_UNREACHABLE: { status: 503, title: 'The hub could not be reached' },
  HUB_ERROR: { status: 502, title: 'The hub answered with an error' },
  HUB_TLS_FAILED: { status: 502, title: "The TLS connection to the hub failed: its certificate is not trusted or does not name the host, or no common TLS version" },
  TLS_CONFIG_INVALID: { status: 500, title: 'A TLS certificate, key or CA file cannot be used' },
  DB_KEY_INVALID: { status: 500, title: "The database's encryption key is missing, wrong, or given for a database that is not encrypted" },
  SHUTTING_DOWN: { status: 503, title: 'The hub is shutting down; retry shortly' },
  CONTROL_REFUSED: { status: 403, title: "The node's control endpoint refuses requests from web pages and for other host names" },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OutpostError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'OutpostError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isOutpostError(e: unknown): e is OutpostError {
  return e instanceof OutpostError;
}

/** RFC 9457 problem details as the hub sends them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  [extra: string]: unknown;
}

export function toProblem(e: OutpostError): Problem {
  const meta = ERROR_CODES[e.code];
  return {
    ...(e.details ?? {}),
    type: `https://outpost.dev/errors#${e.code}`,
    title: meta.title,
    status: meta.status,
    code: e.code,
    detail: e.message,
  };
}
