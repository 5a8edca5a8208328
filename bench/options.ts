/** The command line of `npm run bench -- …`. */
import { parseArgs } from 'node:util';
import type { ServerDialect } from './app-db.ts';
import type { Sizes } from './figures/figure.ts';

export interface Options {
  quick: boolean;
  repeat: number;
  sizes: Sizes;
  hubs: ServerDialect[];
  /** the figures or groups asked for with --only; null: all */
  only: Set<string> | null;
  /** a complete, full-size run writes bench/RESULTS.md; any other prints only */
  writeResults: boolean;
  args: string[];
}

const FULL: Sizes = { rows: 200_000, snapshotRows: 1_000_000, smallRows: 20_000 };
const QUICK: Sizes = { rows: 5_000, snapshotRows: 10_000, smallRows: 1_000 };
const FULL_REPEAT = 3;
/** A quick run is a smoke test of every figure: one run each (each run starts several processes). */
const QUICK_REPEAT = 1;

export const USAGE = `npm run bench -- [--quick] [--repeat K] [--rows N] [--snapshot-rows N] [--small-rows N]
                     [--hub mysql|postgres|both] [--only FIGURE[,FIGURE…]]

FIGURE: push, pull, naive, pouchdb (together: throughput), snapshot,
        wire-rows, wire-update (together: wire), capture
--repeat: runs per figure, the median is reported (default ${FULL_REPEAT}; --quick: ${QUICK_REPEAT})
--quick: ${QUICK.rows} / ${QUICK.snapshotRows} / ${QUICK.smallRows} rows, printed only (bench/RESULTS.md is left alone)`;

export function parseOptions(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      rows: { type: 'string' },
      'snapshot-rows': { type: 'string' },
      'small-rows': { type: 'string' },
      hub: { type: 'string', default: 'both' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const base = v.quick ? QUICK : FULL;
  const sizes: Sizes = {
    rows: positive('--rows', v.rows, base.rows),
    snapshotRows: positive('--snapshot-rows', v['snapshot-rows'], base.snapshotRows),
    smallRows: positive('--small-rows', v['small-rows'], base.smallRows),
  };
  if (sizes.smallRows < 1000) throw new Error('bench: --small-rows must be at least 1000 (the one-column update figure changes 1,000 rows)');
  if (!['mysql', 'postgres', 'both'].includes(v.hub!)) throw new Error(`bench: --hub must be mysql, postgres or both, not ${v.hub}`);
  const hubs: ServerDialect[] = v.hub === 'both' ? ['mysql', 'postgres'] : [v.hub as ServerDialect];
  const only = v.only ? new Set(v.only.split(',').map((s) => s.trim()).filter(Boolean)) : null;
  return {
    quick: v.quick!,
    repeat: positive('--repeat', v.repeat, v.quick ? QUICK_REPEAT : FULL_REPEAT),
    sizes,
    hubs,
    only,
    writeResults: !v.quick && !only && hubs.length === 2,
    args: argv,
  };
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench: ${name} must be a positive integer, not ${value}`);
  return n;
}
