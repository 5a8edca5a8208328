/**
 * What a figure module provides, and how its medians become table rows:
 * figure | Outpost | baseline (same run) | ratio | target | met?
 */
import type { ServerDialect } from '../app-db.ts';
import type { Progress } from '../progress.ts';
import type { Sample } from '../stats.ts';

export interface Sizes {
  /** rows pushed and pulled (figures push, pull) */
  rows: number;
  /** rows of the initial snapshot (figure snapshot) */
  snapshotRows: number;
  /** rows of the slower comparisons: capture, bytes on the wire, naive, PouchDB */
  smallRows: number;
}

export interface FigureContext {
  /** the hub's database */
  hub: ServerDialect;
  sizes: Sizes;
  repeat: number;
  progress: Progress;
  /** whether this run asked for a figure (--only) */
  wants(figure: string): boolean;
}

/**
 * Figures measured together (they share a hub and its nodes). `measure`
 * returns one sample per repeat; `report` turns the medians into rows.
 */
export interface FigureGroup {
  /** the names --only accepts for it: the group's, then each figure's */
  names: string[];
  /** measured once per run, with the first hub, and reported in a section of its own (its figures do not depend on the hub) */
  once?: { title: string };
  /** how many progress steps `measure` takes, for the figures the run wants */
  steps(repeat: number, wants: (figure: string) => boolean): number;
  measure(ctx: FigureContext): Promise<Sample[]>;
  report(m: Sample, ctx: FigureContext): FigureRow[];
  /** how it measured, for the report's notes */
  notes?(ctx: FigureContext): string[];
}

export interface FigureRow {
  figure: string;
  outpost: string;
  baseline: string;
  ratio: string;
  target: string;
  /** null: not measured */
  met: boolean | null;
}

export const HUB_NAMES: Record<ServerDialect, string> = { mysql: 'MariaDB', postgres: 'PostgreSQL' };

export const count = (n: number): string => n.toLocaleString('en-US');
const rate = (rows: number, s: number): string => `${count(Math.round(rows / s))} rows/s`;
const times = (x: number): string => `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}×`;

/** Throughput against a baseline moving the same rows: ratio = Outpost rows/s ÷ baseline rows/s, at least `min`. */
export function speedRow(figure: string, rows: number, outpostSeconds: number, baseline: { name: string; seconds: number }, min: number): FigureRow {
  const ratio = baseline.seconds / outpostSeconds;
  return {
    figure,
    outpost: `${rate(rows, outpostSeconds)} (${outpostSeconds.toFixed(2)} s)`,
    baseline: `${baseline.name}: ${rate(rows, baseline.seconds)}`,
    ratio: times(ratio),
    target: `≥ ${min}×`,
    met: ratio >= min,
  };
}

/** A cost against a baseline (time, bytes): ratio = Outpost ÷ baseline, at most `max`. */
export function costRow(figure: string, outpost: { text: string; value: number }, baseline: { text: string; value: number }, max: number): FigureRow {
  const ratio = outpost.value / baseline.value;
  return { figure, outpost: outpost.text, baseline: baseline.text, ratio: times(ratio), target: `≤ ${max}×`, met: ratio <= max };
}

/** An absolute limit (memory, bytes per change), with an optional reference point. */
export function limitRow(figure: string, value: number, unit: string, max: number, baseline = '—'): FigureRow {
  return { figure, outpost: `${formatNumber(value)} ${unit}`, baseline, ratio: '—', target: `≤ ${max} ${unit}`, met: value <= max };
}

/** A figure that could not be measured in this run. */
export function missingRow(figure: string, why: string): FigureRow {
  return { figure, outpost: why, baseline: '—', ratio: '—', target: '—', met: null };
}

export function formatNumber(x: number): string {
  return x >= 100 ? count(Math.round(x)) : x.toFixed(1);
}

export const MiB = 2 ** 20;
