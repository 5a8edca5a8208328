/** The report: a table per hub, the machine and the run's settings; stdout always, bench/RESULTS.md for full runs. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './databases.ts';
import { count, type FigureRow, type Sizes } from './figures/figure.ts';
import { machineLine, type Machine } from './machine.ts';

export const RESULTS_FILE = join(ROOT, 'bench/RESULTS.md');

export interface Section {
  title: string;
  rows: FigureRow[];
  notes: string[];
}

export interface Report {
  machine: Machine;
  date: Date;
  /** how long the whole run took */
  seconds: number;
  sizes: Sizes;
  repeat: number;
  quick: boolean;
  /** the command line's arguments after `npm run bench --` */
  args: string[];
  sections: Section[];
}

export function table(rows: FigureRow[]): string {
  const head = ['figure', 'Outpost', 'baseline (same run)', 'ratio', 'target', 'met?'];
  const met = (m: boolean | null): string => (m === null ? '—' : m ? 'yes' : 'no');
  return [head, head.map(() => '---'), ...rows.map((r) => [r.figure, r.outpost, r.baseline, r.ratio, r.target, met(r.met)])]
    .map((cells) => `| ${cells.join(' | ')} |`)
    .join('\n');
}

export function renderReport(r: Report): string {
  const command = `npm run bench${r.args.length ? ` -- ${r.args.join(' ')}` : ''}`;
  return [
    '# Benchmark results',
    '',
    `Written by \`${command}\` (bench/run.ts) on ${r.date.toISOString()}; the run took ${duration(r.seconds)}.`,
    '',
    `Machine: ${machineLine(r.machine)}.`,
    '',
    ...(r.quick ? ['A `--quick` run: small sizes and one run per figure, to check that everything works; not figures to quote.', ''] : []),
    `Rows: ${count(r.sizes.rows)} for push and pull, ${count(r.sizes.snapshotRows)} for the snapshot, ${count(r.sizes.smallRows)} for capture overhead, bytes on the wire and the naive and PouchDB comparisons (deterministic OIMS \`items\` rows of about 350 bytes, bench/data.ts). ` +
      `Each figure is ${r.repeat === 1 ? 'from one run' : `the median of ${r.repeat} runs`}; every baseline was measured in the same runs, on the same database server. ` +
      'The hub and every node are separate `outpost` processes talking HTTP on 127.0.0.1; Outpost times are the `durationMs` each command reports (no process start-up).',
    '',
    ...r.sections.flatMap((s) => [`## ${s.title}`, '', ...(s.rows.length ? [table(s.rows), ''] : []), ...s.notes.map((n) => `- ${n}`), ...(s.notes.length ? [''] : [])]),
    '## Live mode',
    '',
    'Propagation latency with 10, 100 and 1,000 live nodes and hub RSS per live connection (up to 10,000) are measured by `npm run bench:live` (bench/live.ts) and recorded in [LIVE-RESULTS.md](LIVE-RESULTS.md).',
    '',
    '## How to reproduce',
    '',
    'With MariaDB on 127.0.0.1:3306 (root, no password) and PostgreSQL on 127.0.0.1:5432 (user postgres, trust), as the tests use them:',
    '',
    '```sh',
    'npm install',
    'npm run bench                 # everything, both hubs; writes this file',
    'npm run bench -- --quick      # a small run in under a minute; prints, writes nothing',
    'npm run bench -- --hub postgres --only push,pull --repeat 5',
    '```',
    '',
  ].join('\n');
}

function duration(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

export function writeResults(markdown: string): void {
  writeFileSync(RESULTS_FILE, markdown);
}
