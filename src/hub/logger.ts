import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Where a credential could sit in a log line of the hub: request headers
 * (a node's token, the admin token), request bodies (an enrollment code) and
 * reply bodies (the token a join hands out). Fastify's default serializers
 * log none of these today; the redaction keeps it so if a serializer, a log
 * call or a plugin ever adds them (test/e2e/log-secrets.test.ts).
 */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-outpost-token"]',
  'headers.authorization', 'headers.cookie',
  'req.body.code', 'req.body.token', 'body.code', 'body.token',
  'res.body.token', 'reply.body.token', 'token', 'adminToken', 'authorization',
  'err.config.headers.authorization',
];

/** The hub's logger: JSON lines (pino), credentials redacted. `OUTPOST_LOG_LEVEL` sets the level in `outpost hub`. */
export function hubLogger(dest: DestinationStream, level = 'info'): Logger {
  return pino({ level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }, dest);
}
