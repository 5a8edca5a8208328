import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from 'pino';
import { OutpostError } from '../protocol/index.ts';
import { wireValueSchema } from '../protocol/values.ts';
import type { CommitNotice } from './commit-notice.ts';
import { isReservedKey } from '../protocol/index.ts';

/** A scope mark as another hub process sends it (scope-log.ts): scope values keyed by column names. */
const scopeValuesSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/).refine((k) => !isReservedKey(k)), wireValueSchema);
const scopeMarkSchema = z.object({ b: scopeValuesSchema.optional(), a: scopeValuesSchema.optional(), t: z.string().max(191).optional() }).strict();

/**
 * How commit notices travel between the hub processes that share one
 * database (docs/live.md, "Scale-out"): each process publishes what it
 * committed, and every other process pokes its own live nodes. A single hub
 * needs none of it (`localFanout`: nothing leaves the process).
 */
export interface Fanout {
  /** tell the other hub processes; never throws (a lost notice is caught up by their head watch) */
  publish(n: CommitNotice): void;
  /** `fn` hears the notices of the other processes (never this one's own) */
  subscribe(fn: (n: CommitNotice) => void): void;
  close(): Promise<void>;
  readonly kind: 'local' | 'redis' | 'nats';
}

export const fanoutConfigSchema = z.union([
  z.object({ redis: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'), channel: z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/).optional() }).strict(),
  z.object({ nats: z.string().regex(/^(nats|tls):\/\//, 'a nats:// or tls:// URL'), channel: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/).optional() }).strict(),
]);
export type FanoutConfig = z.infer<typeof fanoutConfigSchema>;

/** The channel (Redis) or subject (NATS) unless the config names one: hubs of different deployments on one server need their own. */
export const DEFAULT_CHANNEL = 'outpost.pokes';

/** The largest notice accepted from the channel (bytes); notices are summarised well below it. */
const MAX_MESSAGE = 256 * 1024;

const wireNoticeSchema = z
  .object({
    v: z.literal(1),
    from: z.string().min(1).max(100),
    head: z.number().int().min(0),
    entries: z.array(z.object({ table: z.string().min(1).max(128), origin: z.string().max(191).nullable(), pk: z.array(wireValueSchema).max(16).optional(), scope: scopeMarkSchema.optional() }).strict()).max(10_000).nullable(),
  })
  .strict();

/** A notice as it goes on the channel, with the sending process's id. */
export function encodeNotice(from: string, n: CommitNotice): string {
  return JSON.stringify({ v: 1, from, head: n.head, entries: n.entries });
}

/** A notice from the channel, or null when it is not one (logged by the caller) or is this process's own. */
export function decodeNotice(self: string, text: string): CommitNotice | null | 'invalid' {
  if (text.length > MAX_MESSAGE) return 'invalid';
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  const r = wireNoticeSchema.safeParse(raw);
  if (!r.success) return 'invalid';
  if (r.data.from === self) return null;
  return { head: r.data.head, entries: r.data.entries };
}

/** One hub process alone: nothing to tell anyone. */
export function localFanout(): Fanout {
  return { kind: 'local', publish: () => undefined, subscribe: () => undefined, close: async () => undefined };
}

/** The fanout the config names; its client library is loaded only then. */
export async function openFanout(config: FanoutConfig | undefined, log?: Logger): Promise<Fanout> {
  if (!config) return localFanout();
  const self = randomUUID();
  const channel = config.channel ?? DEFAULT_CHANNEL;
  return 'redis' in config ? redisFanout(config.redis, channel, self, log) : natsFanout(config.nats, channel, self, log);
}

async function redisFanout(url: string, channel: string, self: string, log?: Logger): Promise<Fanout> {
  const { Redis } = await import('ioredis');
  // A subscribed connection can do nothing else: one to publish, one to listen.
  const opts = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
  const pub = new Redis(url, opts);
  const sub = new Redis(url, opts);
  for (const c of [pub, sub]) c.on('error', (e: Error) => log?.warn({ err: e }, 'redis fanout connection error'));
  try {
    await Promise.all([pub.connect(), sub.connect()]);
    await sub.subscribe(channel);
  } catch (e) {
    pub.disconnect();
    sub.disconnect();
    throw new OutpostError('CONFIG_INVALID', `fanout: cannot reach Redis at ${redact(url)}: ${(e as Error).message}`);
  }
  const listeners: ((n: CommitNotice) => void)[] = [];
  sub.on('message', (ch: string, text: string) => {
    if (ch !== channel) return;
    deliver(self, text, listeners, log);
  });
  return {
    kind: 'redis',
    publish(n) {
      pub.publish(channel, encodeNotice(self, n)).catch((e: Error) => log?.warn({ err: e }, 'redis fanout publish failed'));
    },
    subscribe: (fn) => void listeners.push(fn),
    async close() {
      pub.disconnect();
      sub.disconnect();
    },
  };
}

async function natsFanout(url: string, subject: string, self: string, log?: Logger): Promise<Fanout> {
  const { connect } = await import('nats');
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({ servers: url, maxReconnectAttempts: -1, timeout: 5000 });
  } catch (e) {
    throw new OutpostError('CONFIG_INVALID', `fanout: cannot reach NATS at ${redact(url)}: ${(e as Error).message}`);
  }
  const listeners: ((n: CommitNotice) => void)[] = [];
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  nc.subscribe(subject, { callback: (err, msg) => {
    if (err) return void log?.warn({ err }, 'nats fanout subscription error');
    deliver(self, decoder.decode(msg.data), listeners, log);
  } });
  return {
    kind: 'nats',
    publish(n) {
      try {
        nc.publish(subject, encoder.encode(encodeNotice(self, n)));
      } catch (e) {
        log?.warn({ err: e }, 'nats fanout publish failed');
      }
    },
    subscribe: (fn) => void listeners.push(fn),
    async close() {
      await nc.close().catch(() => undefined);
    },
  };
}

function deliver(self: string, text: string, listeners: readonly ((n: CommitNotice) => void)[], log?: Logger): void {
  const n = decodeNotice(self, text);
  if (n === 'invalid') return void log?.warn({ bytes: text.length }, 'fanout: ignored a message that is not a commit notice');
  if (n) for (const fn of listeners) fn(n);
}

/** A URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
