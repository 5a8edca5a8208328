import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import type { Adapter } from '../../src/adapters/adapter.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { addNode } from '../../src/hub/enrollment.ts';
import { Hub } from '../../src/hub/hub.ts';
import { buildServer } from '../../src/hub/server.ts';
import { parseHubConfig, type HubConfig } from '../../src/hub/config.ts';
import { NodeAgent } from '../../src/node/agent.ts';
import type { Policy } from '../../src/protocol/index.ts';
import { connectTo, newDatabase, type AppDb, type DialectName } from '../helpers/replicas.ts';
import { DbFaults, withDbFaults } from './db-faults.ts';
import { scratchRoot } from './scratch.ts';
import { HttpFaults } from './http-faults.ts';
import { FaultProxy } from './fault-proxy.ts';

export interface NodeSpec {
  dialect: DialectName;
  /** the lab's wall clock is this far off */
  skewMs: number;
}

export interface WorldSpec {
  hub: DialectName;
  nodes: NodeSpec[];
  policy: Policy;
  /** the hub's largest pull page */
  pullPage: number;
  /** changes per push page (small pages make multi-page groups) */
  pageSize: number;
}

/** The torture config's retention horizon. */
export const RETENTION_HOURS = 24;

/** The torture suite's config: OIMS, with stock movements synced both ways so that parent/child rows travel in both directions. */
export function tortureConfig(spec: Pick<WorldSpec, 'policy' | 'pullPage'>): HubConfig {
  return parseHubConfig({
    tables: {
      labs: { direction: 'down' },
      categories: { direction: 'down' },
      items: { direction: 'both', policy: spec.policy },
      stock_movements: { direction: 'both', policy: spec.policy },
    },
    limits: { pullPage: spec.pullPage, bodyBytes: 16 * 1024 * 1024 },
    schemaRefreshSeconds: 0,
    // Labs run up to a day ahead of the hub (the suite tests skew, not the CLOCK_AHEAD bound).
    maxClockAheadSeconds: 2 * 86_400,
    // A day: runs jump the clock past it, so that labs away that long expire and purges remove what others pulled.
    retention: { horizonSeconds: RETENTION_HOURS * 3600, purgeEverySeconds: 0 },
  });
}

type Scope = { after: (fn: () => unknown) => void };

export interface TortureNode {
  index: number;
  name: string;
  spec: NodeSpec;
  url: string;
  id: string;
  token: string;
  /** the agent's view of its database: faults decide which call fails */
  db: Adapter;
  /** the same database without faults, for the oracle */
  inner: Adapter;
  faults: DbFaults;
  agent: NodeAgent;
  /** the lab app's own connection */
  app: AppDb;
  /** the lab's way to the hub: the fault proxy (cut bodies, lost replies, a partition) */
  proxy: FaultProxy;
}

/**
 * A hub and its nodes, in this process, over real HTTP on 127.0.0.1, with
 * database faults on every component and network faults on the hub's side.
 */
export class World {
  readonly spec: WorldSpec;
  readonly config: HubConfig;
  readonly hubFaults = new DbFaults();
  readonly http = new HttpFaults();
  readonly nodes: TortureNode[] = [];
  /** the website's own connection to the hub database */
  web!: AppDb;
  hubUrl = '';
  hub!: Hub;
  hubInner!: Adapter;
  #dbUrl = '';
  #app: FastifyInstance | null = null;
  #port = 0;
  #clock: () => number;
  /** how far every clock of the world (the hub's and the labs') has been moved ahead */
  #ahead = 0;

  private constructor(spec: WorldSpec, clock: () => number) {
    this.spec = structuredClone(spec);
    this.config = tortureConfig(spec);
    this.#clock = () => clock() + this.#ahead;
  }

  /** Time passes for everyone at once (hours away, a weekend): every clock jumps ahead. */
  advance(ms: number): void {
    this.#ahead += ms;
  }

  /**
   * Build a world. SQLite-only worlds start from a template made once per
   * node count (files copied), so that thousands of runs fit in minutes;
   * worlds with server databases are made from scratch.
   */
  static async create(scope: Scope, spec: WorldSpec, dir: string, clock: () => number = Date.now): Promise<World> {
    const w = new World(spec, clock);
    const allSqlite = spec.hub === 'sqlite' && spec.nodes.every((n) => n.dialect === 'sqlite');
    if (allSqlite) await w.#fromTemplate(scope, dir);
    else await w.#fromScratch(scope, dir);
    return w;
  }

  async #startHub(): Promise<void> {
    this.hubInner = await openAdapter(this.#dbUrl);
    this.hub = await Hub.open(withDbFaults(this.hubInner, this.hubFaults), this.config, { now: this.#clock });
    const app = await buildServer(this.hub);
    this.http.install(app);
    await app.listen({ host: '127.0.0.1', port: this.#port });
    const addr = app.server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
    this.hubUrl = `http://127.0.0.1:${this.#port}`;
    this.#app = app;
  }

  async #stopHub(): Promise<void> {
    const app = this.#app;
    this.#app = null;
    if (app) await app.close();
    await this.hubInner?.close();
  }

  /** Stop the hub (its database connection too) and start it again on the same port. */
  async restartHub(): Promise<void> {
    await this.#stopHub();
    await this.#startHub();
  }

  async #openNode(index: number, url: string, name: string): Promise<TortureNode> {
    const inner = await openAdapter(url);
    const faults = this.nodes[index]?.faults ?? new DbFaults();
    const db = withDbFaults(inner, faults);
    const spec = this.spec.nodes[index]!;
    let agent: NodeAgent;
    try {
      agent = await NodeAgent.open(db, this.#agentOptions(spec));
    } catch (e) {
      await inner.close();
      throw e;
    }
    const state = await inner.read(async (tx) => ({ id: await tx.getState('node_id'), token: await tx.getState('token') }));
    return { index, name, spec, url, id: state.id ?? '', token: state.token ?? '', db, inner, faults, agent, app: this.nodes[index]?.app as AppDb, proxy: this.nodes[index]?.proxy as FaultProxy };
  }

  #agentOptions(spec: NodeSpec): { now: () => number; pageSize: number; timeoutMs: number } {
    return { now: () => this.#clock() + spec.skewMs, pageSize: this.spec.pageSize, timeoutMs: 20_000 };
  }

  /** A fault proxy in front of the hub for one lab, closed with the world. */
  async #proxy(scope: Scope): Promise<FaultProxy> {
    const proxy = await FaultProxy.start(this.hubUrl);
    scope.after(() => proxy.close());
    return proxy;
  }

  /** A node process that died and starts again: the agent and its connection are new, its database is what it was. */
  async restartNode(index: number): Promise<void> {
    const n = this.nodes[index]!;
    await n.inner.close();
    let again: TortureNode;
    try {
      again = await this.#openNode(index, n.url, n.name);
    } catch (e) {
      // It did not start: the oracle still reads its database.
      n.inner = await openAdapter(n.url);
      throw e;
    }
    again.app = n.app;
    again.proxy = n.proxy;
    this.nodes[index] = again;
  }

  async #fromScratch(scope: Scope, dir: string): Promise<void> {
    this.web = await newDatabase(scope, this.spec.hub, dir, 'hub', { oims: true });
    this.#dbUrl = this.web.url;
    await this.#startHub();
    scope.after(() => this.#stopHub());
    for (let i = 0; i < this.spec.nodes.length; i++) {
      const spec = this.spec.nodes[i]!;
      const name = `lab-${i + 1}`;
      const app = await newDatabase(scope, spec.dialect, dir, name);
      const proxy = await this.#proxy(scope);
      const { code } = await addNode(this.hubInner, name);
      const inner = await openAdapter(app.url);
      await NodeAgent.join(inner, proxy.url, code, this.#agentOptions(spec));
      await inner.close();
      this.nodes.push({ ...(await this.#openNode(i, app.url, name)), app, proxy });
      scope.after(() => this.nodes[i]!.inner.close());
    }
  }

  /**
   * A lab that joins while the run goes on (its snapshot meets whatever
   * faults are on). Returns false when it could not even get its credential
   * (the hub was down): an admin would enroll it again; it takes no part.
   */
  async joinLate(scope: Scope, dir: string, spec: NodeSpec): Promise<boolean> {
    const i = this.nodes.length;
    const name = `lab-${i + 1}`;
    const app = await newDatabase(scope, spec.dialect, dir, name);
    let code: string;
    try {
      ({ code } = await addNode(this.hubInner, name));
    } catch {
      return false; // the hub's database is failing: no enrollment
    }
    const faults = new DbFaults();
    const proxy = await this.#proxy(scope);
    const inner = await openAdapter(app.url);
    try {
      await NodeAgent.join(withDbFaults(inner, faults), proxy.url, code, this.#agentOptions(spec));
    } catch {
      /* the first snapshot failed: the next sync takes it */
    }
    const joined = await inner.read((tx) => tx.getState('token'));
    await inner.close();
    if (!joined) return false;
    this.spec.nodes.push(spec);
    this.nodes.push({ ...(await this.#openNode(i, app.url, name)), app, proxy });
    scope.after(() => this.nodes[i]!.inner.close());
    return true;
  }

  async #fromTemplate(scope: Scope, dir: string): Promise<void> {
    const template = await sqliteTemplate(this.spec.nodes.length, this.config);
    for (const f of readdirSync(template)) copyFileSync(join(template, f), join(dir, f));
    this.#dbUrl = `sqlite:${join(dir, 'hub.db')}`;
    await this.#startHub();
    scope.after(() => this.#stopHub());
    this.web = await connectTo(scope, 'sqlite', this.#dbUrl);
    for (let i = 0; i < this.spec.nodes.length; i++) {
      const name = `lab-${i + 1}`;
      const path = join(dir, `${name}.db`);
      const proxy = await this.#proxy(scope);
      const fix = new Database(path);
      fix.prepare("UPDATE _outpost_state SET v = ? WHERE k = 'hub_url'").run(proxy.url);
      fix.close();
      const app = await connectTo(scope, 'sqlite', `sqlite:${path}`);
      this.nodes.push({ ...(await this.#openNode(i, `sqlite:${path}`, name)), app, proxy });
      scope.after(() => this.nodes[i]!.inner.close());
    }
  }

  /** Every fault off: databases, network, offline nodes. */
  heal(): void {
    this.hubFaults.heal();
    this.http.heal();
    for (const n of this.nodes) {
      n.faults.heal();
      n.proxy.heal();
    }
  }
}

const templates = new Map<string, Promise<string>>();
let templateRoot: string | null = null;

/**
 * A SQLite hub with the OIMS schema and `n` joined SQLite labs, made once per
 * process and node count, closed (so the files are whole), then copied.
 */
function sqliteTemplate(n: number, config: HubConfig): Promise<string> {
  const key = `${n}:${config.tables.items!.policy}`;
  let p = templates.get(key);
  if (!p) {
    p = makeTemplate(n, config);
    templates.set(key, p);
  }
  return p;
}

async function makeTemplate(n: number, config: HubConfig): Promise<string> {
  if (!templateRoot) {
    templateRoot = mkdtempSync(join(scratchRoot(), 'outpost-torture-templates-'));
    const root = templateRoot;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  const dir = join(templateRoot, `n${n}-${config.tables.items!.policy}`);
  mkdirSync(dir, { recursive: true });
  const fns: (() => unknown)[] = [];
  const scope: Scope = { after: (fn) => fns.push(fn) };
  try {
    const web = await newDatabase(scope, 'sqlite', dir, 'hub', { oims: true });
    const hubDb = await openAdapter(web.url);
    const hub = await Hub.open(hubDb, config);
    const app = await buildServer(hub);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    for (let i = 0; i < n; i++) {
      const { code } = await addNode(hubDb, `lab-${i + 1}`);
      const db = await openAdapter(`sqlite:${join(dir, `lab-${i + 1}.db`)}`);
      await NodeAgent.join(db, url, code);
      await db.close();
    }
    await app.close();
    await hubDb.close();
  } finally {
    for (const fn of fns.reverse()) await fn();
  }
  // Closed cleanly: the WAL is checkpointed into the files.
  for (const f of readdirSync(dir)) if (!f.endsWith('.db')) rmSync(join(dir, f));
  if (!existsSync(join(dir, 'hub.db'))) throw new Error('template hub missing');
  return dir;
}
