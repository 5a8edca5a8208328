/** Reducing repeated runs to one figure. */

/** One run's measurements, by name (seconds, bytes, …). */
export type Sample = Record<string, number>;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The median of each measurement over runs (a measurement missing from a run is left out of it). */
export function medians(runs: Sample[]): Sample {
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...names].map((n) => [n, median(runs.flatMap((r) => (n in r ? [r[n]!] : [])))]));
}

/** Seconds elapsed while `fn` runs. */
export async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
