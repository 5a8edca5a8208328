import { OutpostError } from '../protocol/index.ts';

export interface FailureLimitOptions {
  /** failures allowed per key within the window; the next attempt is refused (default 10) */
  max?: number;
  /** the sliding window (ms; default 60 000) */
  windowMs?: number;
  /** keys kept at most; the ones seen longest ago go first (default 10 000) */
  maxKeys?: number;
}

/**
 * Counts failed attempts (a wrong enrollment code, a wrong admin password)
 * per key (the client's address) over a sliding window, in memory. Once a key
 * has `max` failures within `windowMs`, every attempt with that key, right or
 * wrong, is refused with RATE_LIMITED (HTTP 429, `Retry-After`) until the
 * oldest of them leaves the window. Successful attempts are not counted, so a
 * site enrolling many labs from one address is never slowed down.
 *
 * Not @fastify/rate-limit: that plugin counts every request in an onRequest
 * hook, before the handler knows whether the code or password was right, and
 * has no option to count failures only; its windows also run on the real
 * clock, where these tests inject time. This is 40 lines.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #failures = new Map<string, number[]>();

  constructor(o: FailureLimitOptions = {}) {
    this.#max = o.max ?? 10;
    this.#windowMs = o.windowMs ?? 60_000;
    this.#maxKeys = o.maxKeys ?? 10_000;
  }

  /** Refuse the attempt if the key has used up its failures. */
  check(key: string, now: number): void {
    const recent = this.#recent(key, now);
    if (recent.length < this.#max) return;
    const retryAfterSeconds = Math.max(1, Math.ceil((recent[0]! + this.#windowMs - now) / 1000));
    throw new OutpostError('RATE_LIMITED', `too many failed attempts from this address; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }

  /** Count a failed attempt. */
  fail(key: string, now: number): void {
    const recent = this.#recent(key, now);
    recent.push(now);
    this.#failures.delete(key); // re-insert: Map order is least recently failed first
    this.#failures.set(key, recent);
    while (this.#failures.size > this.#maxKeys) this.#failures.delete(this.#failures.keys().next().value!);
  }

  #recent(key: string, now: number): number[] {
    const all = this.#failures.get(key) ?? [];
    const recent = all.filter((t) => t > now - this.#windowMs);
    if (recent.length === 0) this.#failures.delete(key);
    else if (recent.length !== all.length) this.#failures.set(key, recent);
    return recent;
  }
}
