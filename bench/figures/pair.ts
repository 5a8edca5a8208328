/**
 * Figures measured on a pair of SQLite nodes joined to one hub: the app
 * writes on one (the pusher), whose `outpost sync` pushes; the other (the
 * puller) pulls. Figures that share a pair run one after the other in each
 * run, each leaving both nodes in step, so none sees another's rows.
 */
import { startCluster, type Cluster, type Node } from '../cluster.ts';
import { countingProxy, type CountingProxy } from '../proxy.ts';
import { withScope, type Scope } from '../scope.ts';
import { itemRows } from '../data.ts';
import type { Sample } from '../stats.ts';
import type { FigureContext, FigureGroup, FigureRow } from './figure.ts';
import { pushThenPull } from './sync-rows.ts';

/** Rows of a fresh pair's untimed warm-up sync, from a seed no figure uses. */
const WARM_UP_ROWS = 1000;
const WARM_UP_SEED = 99;

export interface Pair {
  cluster: Cluster;
  pusher: Node;
  puller: Node;
  /** the byte counter both nodes joined through, when the group asked for one */
  proxy?: CountingProxy;
}

export interface PairFigure {
  /** the figures it reports, as --only names them */
  names: string[];
  /** what one run measures, for the progress line */
  label(ctx: FigureContext): string;
  measure(ctx: FigureContext, pair: Pair, run: number): Promise<Sample>;
  report(m: Sample, ctx: FigureContext): FigureRow[];
  notes?(ctx: FigureContext): string[];
}

/**
 * A group of pair figures on one hub and pair, each measured once per run
 * (one progress step each). `freshPerRun`: every run gets a hub with a fresh
 * database and two fresh nodes, so that each run starts from the state its
 * baselines start from (a fresh database), warmed up by an untimed sync of
 * 1,000 rows; otherwise the runs share them.
 */
export function pairGroup(name: string, figures: PairFigure[], opts: { proxy?: boolean; freshPerRun?: boolean } = {}): FigureGroup {
  const wanted = (wants: (figure: string) => boolean): PairFigure[] => figures.filter((f) => f.names.some(wants));
  // asking for a pair figure by its first name asks for every figure it reports
  const contextOf = (ctx: FigureContext, f: PairFigure): FigureContext => ({ ...ctx, wants: (figure) => ctx.wants(figure) || ctx.wants(f.names[0]!) });
  // each figure's measurements under its own prefix, so that figures sharing a run cannot mix them up
  const own = (m: Sample, f: PairFigure): Sample =>
    Object.fromEntries(Object.entries(m).flatMap(([k, v]) => (k.startsWith(`${f.names[0]}.`) ? [[k.slice(f.names[0]!.length + 1), v]] : [])));
  return {
    names: [name, ...figures.flatMap((f) => f.names)],
    steps: (repeat, wants) => repeat * wanted(wants).length,

    measure: (ctx) =>
      withScope(async (scope) => {
        const startPair = async (scope: Scope): Promise<Pair> => {
          const cluster = await startCluster(scope, ctx.hub);
          const proxy = opts.proxy ? await countingProxy(cluster.hub.url) : undefined;
          if (proxy) scope.defer(() => proxy.close());
          const hubUrl = proxy?.url;
          const [pusher, puller] = await Promise.all([cluster.join('pusher', { hubUrl }), cluster.join('puller', { hubUrl })]);
          // A hub is a long-running server: a fresh one first pushes and pulls a few rows, untimed, so that
          // no figure pays for compiling its code paths (as bench:live's warm-up commits are not sampled).
          if (opts.freshPerRun) await pushThenPull(ctx.progress, pusher, puller, [...itemRows(WARM_UP_ROWS, 0, WARM_UP_SEED)]);
          return { cluster, pusher, puller, ...(proxy ? { proxy } : {}) };
        };
        const measureRun = async (pair: Pair, run: number): Promise<Sample> => {
          const sample: Sample = {};
          for (const f of wanted(ctx.wants)) {
            ctx.progress.step(`${f.label(ctx)} · run ${run + 1}/${ctx.repeat}`);
            for (const [k, v] of Object.entries(await f.measure(contextOf(ctx, f), pair, run))) sample[`${f.names[0]}.${k}`] = v;
          }
          return sample;
        };
        const shared = opts.freshPerRun ? null : await startPair(scope);
        const samples: Sample[] = [];
        for (let run = 0; run < ctx.repeat; run++) {
          // A fresh pair's databases are dropped as soon as its run is measured.
          samples.push(shared ? await measureRun(shared, run) : await withScope(async (own) => measureRun(await startPair(own), run)));
        }
        return samples;
      }),

    report: (m, ctx) => wanted(ctx.wants).flatMap((f) => f.report(own(m, f), contextOf(ctx, f))),
    notes: (ctx) => wanted(ctx.wants).flatMap((f) => f.notes?.(contextOf(ctx, f)) ?? []),
  };
}
