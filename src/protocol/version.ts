/** The wire protocol version. Bump it whenever a message schema changes (a test hashes the schemas). */
export const PROTOCOL_VERSION = 1;

/**
 * gzip level of request and response bodies, both ways: 3 keeps full rows
 * within 1.1× the bytes of gzip-1 NDJSON of the same rows (level 1 is 1.1–1.14×,
 * the per-change stamps and keys cost the difference) at little more CPU.
 */
export const GZIP_LEVEL = 3;
