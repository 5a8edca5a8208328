/**
 * Hybrid logical clock. A stamp is a string that sorts lexicographically in
 * the clock's total order: 15-digit wall milliseconds, 8 hex digits of
 * counter, then the node id that breaks ties.
 *   001732212345678-0000002a-n-1f56334a8259
 */
export interface HlcParts {
  readonly wall: number;
  readonly counter: number;
  readonly node: string;
}

const WALL_DIGITS = 15;
const COUNTER_DIGITS = 8;
const MAX_COUNTER = 0xffffffff;
const STAMP_RE = /^(\d{15})-([0-9a-f]{8})-(.+)$/;

/** Below every stamp a clock issues (clock node ids are never empty); a local marker, never sent. */
export const HLC_ZERO = formatHlc({ wall: 0, counter: 0, node: '' });

export function formatHlc(p: HlcParts): string {
  return `${String(p.wall).padStart(WALL_DIGITS, '0')}-${p.counter.toString(16).padStart(COUNTER_DIGITS, '0')}-${p.node}`;
}

export function parseHlc(stamp: string): HlcParts {
  const m = STAMP_RE.exec(stamp);
  if (!m) throw new RangeError(`not an HLC stamp: ${JSON.stringify(stamp)}`);
  return { wall: Number(m[1]), counter: parseInt(m[2]!, 16), node: m[3]! };
}

export function isHlc(stamp: unknown): stamp is string {
  return typeof stamp === 'string' && STAMP_RE.test(stamp) && stamp.length <= 200;
}

/** Total order of stamps: -1, 0 or 1. */
export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function maxHlc(a: string, b: string): string {
  return a >= b ? a : b;
}

/**
 * The clock of one replica. `tick` stamps a local event; `receive` merges a
 * stamp seen from elsewhere, so that every later tick sorts after it however
 * far behind the wall clock is.
 */
export class HlcClock {
  #wall: number;
  #counter: number;
  readonly node: string;
  readonly #now: () => number;

  constructor(node: string, now: () => number = Date.now, last?: string) {
    if (!node) throw new RangeError('an HLC clock needs a node id');
    this.node = node;
    this.#now = now;
    const p = last ? parseHlc(last) : { wall: 0, counter: 0 };
    this.#wall = p.wall;
    this.#counter = p.counter;
  }

  /** The highest stamp this clock has issued or seen (with this node's id). */
  get last(): string {
    return formatHlc({ wall: this.#wall, counter: this.#counter, node: this.node });
  }

  /**
   * Stamp a local event. `physical` is when the event happened by the wall
   * clock (a trigger's timestamp, say); it defaults to now.
   */
  tick(physical: number = this.#now()): string {
    const pt = Math.max(0, Math.floor(physical));
    if (pt > this.#wall) {
      this.#wall = pt;
      this.#counter = 0;
    } else if (this.#counter >= MAX_COUNTER) {
      this.#wall += 1;
      this.#counter = 0;
    } else {
      this.#counter += 1;
    }
    return this.last;
  }

  /** Merge a stamp seen from another replica. */
  receive(stamp: string): void {
    const p = parseHlc(stamp);
    if (p.wall > this.#wall || (p.wall === this.#wall && p.counter > this.#counter)) {
      this.#wall = p.wall;
      this.#counter = p.counter;
    }
  }
}
