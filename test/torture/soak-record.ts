import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface SoakFigures {
  runs: number;
  failed: number[];
  firstSeed: number;
  lastSeed: number;
  seconds: number;
  dialects: string[];
  steps: number;
  faults: number;
  machine: string;
}

const START = '<!-- soak:start -->';
const END = '<!-- soak:end -->';

const HEADER = ['| when | runs | seeds | dialects | steps per run | faults injected | failures | duration | machine |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'];

/**
 * Write the soak's result between the markers of docs/reliability.md, as the
 * first row of the table there (earlier soaks stay below it; the rest of the
 * file is kept).
 */
export function recordSoak(path: string, f: SoakFigures): void {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : `# Reliability\n\n## Soaks\n\n${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < 0) throw new Error(`${path} has no ${START} … ${END} markers for the soak's result`);
  const earlier = text.slice(a + START.length, b).split('\n').filter((l) => l.startsWith('| ') && !HEADER.includes(l));
  const row = `| ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC | ${f.runs} | ${f.firstSeed}…${f.lastSeed} | ${f.dialects.join(', ')} | ≤ ${f.steps} | ${f.faults} | ${f.failed.length ? f.failed.join(', ') : 'none'} | ${(f.seconds / 60).toFixed(1)} min | ${f.machine} |`;
  const body = [START, ...HEADER, row, ...earlier, END].join('\n');
  writeFileSync(path, text.slice(0, a) + body + text.slice(b + END.length));
}
