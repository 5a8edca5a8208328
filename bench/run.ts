/**
 * `npm run bench`: Outpost's figures on a MariaDB hub and a PostgreSQL hub
 * (SQLite nodes), each next to a baseline measured in the same run, as
 * tables on stdout and in bench/RESULTS.md. `-- --help` lists the options.
 *
 * Every figure measures the real product: `outpost hub` and each
 * `outpost join` / `outpost sync` run as processes of their own and talk
 * HTTP on 127.0.0.1. Databases and temporary files the run creates are
 * removed at the end, also after a failure or Ctrl-C.
 */
import type { ServerDialect } from './app-db.ts';
import { capture } from './figures/capture.ts';
import { HUB_NAMES, missingRow, type FigureContext, type FigureGroup, type FigureRow } from './figures/figure.ts';
import { pairGroup } from './figures/pair.ts';
import { pushPull } from './figures/push-pull.ts';
import { snapshot } from './figures/snapshot.ts';
import { versus } from './figures/versus.ts';
import { wire } from './figures/wire.ts';
import { describeMachine } from './machine.ts';
import { parseOptions, USAGE, type Options } from './options.ts';
import { Progress } from './progress.ts';
import { RESULTS_FILE, renderReport, writeResults, type Section } from './results.ts';
import { cleanUpOnSignals } from './scope.ts';
import { medians } from './stats.ts';

const GROUPS: FigureGroup[] = [
  // Each run on a fresh hub database and fresh nodes, as every baseline writes into a fresh database:
  // first the smaller N the comparisons use (into the empty hub, as the naive loop into an empty
  // database), then N rows pushed and pulled.
  pairGroup('throughput', [versus, pushPull], { freshPerRun: true }),
  snapshot,
  pairGroup('bytes', [wire], { proxy: true }),
  capture,
];

/** A command line the bench cannot run: the reason and the usage, exit 2, before anything is created. */
function refuse(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

const options = ((): Options => {
  try {
    return parseOptions(process.argv.slice(2));
  } catch (e) {
    return refuse((e as Error).message);
  }
})();
const groups = GROUPS.filter((g) => !options.only || g.names.some((n) => options.only!.has(n)));
if (groups.length === 0) refuse(`bench: --only names no figure (${[...options.only!].join(', ')})`);
cleanUpOnSignals();

const started = Date.now();
const machine = await describeMachine();
const runsOf = (g: FigureGroup): number => (g.once ? 1 : options.hubs.length);
/** Whether the run asked for `figure` of `group` (every figure, without --only; asking for a group asks for its figures). */
const wantsOf = (group: FigureGroup) => (figure: string): boolean => !options.only || options.only.has(figure) || options.only.has(group.names[0]!);
const progress = new Progress(groups.reduce((n, g) => n + runsOf(g) * g.steps(options.repeat, wantsOf(g)), 0));
const notes = new Set<string>();
let failed = false;

/** The rows of one group on one hub; a failure becomes a row saying so, and the run goes on. */
async function measure(group: FigureGroup, hub: ServerDialect): Promise<FigureRow[]> {
  const ctx: FigureContext = { hub, sizes: options.sizes, repeat: options.repeat, progress, wants: wantsOf(group) };
  try {
    const rows = group.report(medians(await group.measure(ctx)), ctx);
    for (const note of group.notes?.(ctx) ?? []) notes.add(note);
    return rows;
  } catch (e) {
    failed = true;
    progress.note(`bench: ${group.names[0]} on the ${HUB_NAMES[hub]} hub failed: ${(e as Error).stack ?? e}`);
    return [missingRow(group.names[0]!, `failed: ${(e as Error).message.split('\n')[0]}`)];
  }
}

const sections: Section[] = [];
for (const hub of options.hubs) {
  const rows: FigureRow[] = [];
  for (const group of groups.filter((g) => !g.once)) rows.push(...(await measure(group, hub)));
  if (rows.length) sections.push({ title: `${HUB_NAMES[hub]} hub, SQLite nodes`, rows, notes: [] });
}
for (const group of groups.filter((g) => g.once)) {
  const hub = options.hubs[0]!;
  sections.push({ title: `${group.once!.title} (joined to the ${HUB_NAMES[hub]} hub)`, rows: await measure(group, hub), notes: [] });
}
progress.done();

if (notes.size) sections.push({ title: 'How each figure was measured', rows: [], notes: [...notes] });
const report = renderReport({ machine, date: new Date(), seconds: (Date.now() - started) / 1000, sizes: options.sizes, repeat: options.repeat, quick: options.quick, args: options.args, sections });
process.stdout.write(report);
if (options.writeResults && !failed) {
  writeResults(report);
  process.stderr.write(`bench: wrote ${RESULTS_FILE}\n`);
} else {
  process.stderr.write(`bench: ${failed ? 'a figure failed' : options.quick ? '--quick' : 'a partial run'}: ${RESULTS_FILE} left as it was\n`);
}
process.exitCode = failed ? 1 : 0;
