import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { LIVE_CLOSE, LIVE_MAX_PAYLOAD, liveClientMessageSchema, type Change } from '../protocol/index.ts';
import type { Adapter, NodeRecord } from '../adapters/adapter.ts';
import type { CommitNotice } from './commit-notice.ts';
import type { NodeAttrs } from './scopes.ts';

/** A node with an open live socket, as a poke filter sees it. */
export interface LiveNode {
  readonly id: string;
  readonly name: string;
  /** its attributes when it connected (scopes name them; scope-poke.ts) */
  readonly attrs: NodeAttrs;
}

/**
 * Whether a commit concerns a live node, i.e. whether to poke it: the one
 * place that chooses (docs/live.md, "Whom the hub pokes"). It gets the
 * commit's logged entries (table, origin, and the key for small commits) or
 * null when only the head is known. Per-node read scopes plug in here: a
 * filter that also asks whether `entry.table`/`entry.pk` is in `node`'s scope
 * (an entry without `pk` is a summary: treat it as in scope if the table is).
 */
export type PokeFilter = (notice: CommitNotice, node: LiveNode) => boolean;

/** For now: every live node except the origin of every entry (a node never needs a poke for its own push). */
export const defaultPokeFilter: PokeFilter = (notice, node) => notice.entries === null || notice.entries.some((e) => e.origin !== node.id);

export interface LiveMetrics {
  nodes: { set(v: number): void };
  pokes: { inc(v?: number): void };
  /** pokes that carried the commit's changes (a page) */
  pages?: { inc(v?: number): void };
  /** the changes those pages carried (counted with the changes pulls send) */
  pagedChanges?: { inc(v?: number): void };
}

export interface LiveHubOptions {
  db: Adapter;
  filter?: PokeFilter;
  metrics?: LiveMetrics;
  log?: Logger;
  /** how often the connected nodes' credentials are checked against the database (another process may revoke); default 400 ms */
  revocationCheckMs?: number;
  /** how often each socket is pinged; one that has not answered the previous ping is dropped. Default 30 s */
  heartbeatMs?: number;
  /** a commit's changes as this node would pull them, or null (live-page.ts); without it pokes carry no pages */
  pageFor?: (notice: CommitNotice, node: LiveNode) => Change[] | null;
  /** the hub clock's next stamp, sent with a page as a pull response sends it */
  clock?: () => string;
  /** a node acknowledged applying pages up to `cursor` */
  onAck?: (node: LiveNode, cursor: number) => void;
}

interface Conn {
  node: LiveNode;
  socket: WebSocket;
  alive: boolean;
  /** it opened with `?pages=1`: it can take the commit's changes in a poke */
  pages: boolean;
}

/** Room left in a message for the poke around its page. */
const PAGE_MAX_BYTES = LIVE_MAX_PAYLOAD - 1024;

/**
 * The hub process's live sockets: who is connected, whom a commit concerns
 * (`pokeTargets`, through the poke filter), the pokes, and the closing of a
 * revoked node's sockets, at once when revoked in this process and within
 * `revocationCheckMs` (plus one query) when revoked by another.
 */
export class LiveHub {
  readonly #conns = new Set<Conn>();
  readonly #byNode = new Map<string, Set<Conn>>();
  readonly #o: LiveHubOptions;
  readonly #filter: PokeFilter;
  readonly #timers: NodeJS.Timeout[] = [];
  /** the highest head every live node was poked for (a notice at or below it is news to no one) */
  #allPokedHead = 0;
  #checking = false;

  constructor(o: LiveHubOptions) {
    this.#o = o;
    this.#filter = o.filter ?? defaultPokeFilter;
    this.#timers.push(setInterval(() => void this.#checkRevoked(), o.revocationCheckMs ?? 400).unref());
    this.#timers.push(setInterval(() => this.#heartbeat(), o.heartbeatMs ?? 30_000).unref());
  }

  /** Open live sockets. */
  get size(): number {
    return this.#conns.size;
  }

  #pageable = 0;

  /** Open live sockets that take pages in pokes (commit notices then carry their entries). */
  get pageable(): number {
    return this.#pageable;
  }

  /** Take on an authenticated node's socket: greet it with the head, then listen for (and validate) what it sends. */
  accept(node: NodeRecord, socket: WebSocket, head: number, attrs: NodeAttrs = {}, pages = false): void {
    const conn: Conn = { node: { id: node.id, name: node.name, attrs }, socket, alive: true, pages };
    if (pages) this.#pageable++;
    this.#conns.add(conn);
    let set = this.#byNode.get(node.id);
    if (!set) this.#byNode.set(node.id, (set = new Set()));
    set.add(conn);
    this.#o.metrics?.nodes.set(this.#conns.size);
    socket.on('pong', () => (conn.alive = true));
    socket.on('message', (data, isBinary) => {
      conn.alive = true;
      if (isBinary) return this.#refuse(conn, 'binary messages are not accepted');
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(data));
      } catch {
        return this.#refuse(conn, 'not JSON');
      }
      const msg = liveClientMessageSchema.safeParse(parsed);
      if (!msg.success) return this.#refuse(conn, 'not a live message ({"type":"hello"} or {"type":"ack","cursor":N})');
      if (msg.data.type === 'ack') this.#o.onAck?.(conn.node, msg.data.cursor);
    });
    socket.on('close', () => this.#drop(conn));
    socket.on('error', () => this.#drop(conn));
    socket.send(JSON.stringify({ type: 'hello', head, nodeId: node.id }));
  }

  /**
   * The live nodes a commit concerns, through the poke filter: the one
   * function that chooses whom to poke.
   */
  pokeTargets(notice: CommitNotice): LiveNode[] {
    const out: LiveNode[] = [];
    for (const [, set] of this.#byNode) {
      const first = set.values().next().value;
      if (first && this.#filter(notice, first.node)) out.push(first.node);
    }
    return out;
  }

  /**
   * Poke the nodes a commit concerns: the log's head, and to nodes that take
   * them the commit's changes as that node would pull them (`pageFor`), when
   * they fit in a message. Nodes that get the same changes share one encoding.
   */
  poke(notice: CommitNotice): number {
    if (this.#conns.size === 0) return 0;
    if (notice.head <= this.#allPokedHead) return 0;
    if (notice.entries === null) this.#allPokedHead = notice.head;
    const plain = JSON.stringify({ type: 'poke', head: notice.head });
    const from = notice.page?.from;
    const pageFor = from !== undefined && this.#pageable > 0 ? this.#o.pageFor : undefined;
    const clock = pageFor ? (this.#o.clock?.() ?? null) : null;
    const encoded = new Map<string, string>();
    const withPage = (changes: Change[]): string => {
      // The same changes (most nodes get all of them) are encoded once.
      const key = changes.length === notice.page!.entries.length ? '*' : JSON.stringify(changes);
      let msg = encoded.get(key);
      if (msg === undefined) {
        msg = JSON.stringify({ type: 'poke', head: notice.head, page: { from, changes, clock } });
        if (Buffer.byteLength(msg) > PAGE_MAX_BYTES) msg = plain;
        encoded.set(key, msg);
      }
      return msg;
    };
    let sent = 0;
    let pages = 0;
    let changes = 0;
    for (const node of this.pokeTargets(notice)) {
      let page: Change[] | null | undefined;
      for (const c of this.#byNode.get(node.id) ?? []) {
        let msg = plain;
        if (pageFor && clock !== null && c.pages) {
          if (page === undefined) page = pageFor(notice, node);
          if (page !== null) msg = withPage(page);
        }
        c.socket.send(msg);
        sent++;
        if (msg !== plain) (pages++, (changes += page!.length));
      }
    }
    if (sent) this.#o.metrics?.pokes.inc(sent);
    if (pages) this.#o.metrics?.pages?.inc(pages);
    if (changes) this.#o.metrics?.pagedChanges?.inc(changes);
    return sent;
  }

  /** Close a node's sockets at once (it was revoked or re-keyed in this process). */
  closeNode(id: string, code: number = LIVE_CLOSE.revoked, reason = 'the node credential was revoked'): number {
    const set = this.#byNode.get(id);
    if (!set) return 0;
    const n = set.size;
    for (const c of [...set]) {
      c.socket.close(code, reason);
      // A peer that never answers the close frame is cut off after a second.
      setTimeout(() => c.socket.terminate(), 1000).unref();
      this.#drop(c);
    }
    return n;
  }

  /** Stop the timers and close every socket (the hub is shutting down). */
  close(): void {
    for (const t of this.#timers) clearInterval(t);
    for (const c of [...this.#conns]) {
      c.socket.close(LIVE_CLOSE.goingAway, 'the hub is shutting down');
      this.#drop(c);
    }
  }

  #refuse(conn: Conn, why: string): void {
    this.#o.log?.warn({ node: conn.node.name, why }, 'live: closed a socket that sent a bad message');
    conn.socket.close(LIVE_CLOSE.badMessage, why);
    this.#drop(conn);
  }

  #drop(conn: Conn): void {
    if (!this.#conns.delete(conn)) return;
    if (conn.pages) this.#pageable--;
    const set = this.#byNode.get(conn.node.id);
    set?.delete(conn);
    if (set && set.size === 0) this.#byNode.delete(conn.node.id);
    this.#o.metrics?.nodes.set(this.#conns.size);
  }

  /** One query for all connected nodes: those without a working credential lose their sockets. */
  async #checkRevoked(): Promise<void> {
    if (this.#byNode.size === 0 || this.#checking) return;
    this.#checking = true;
    try {
      const blocked = await this.#o.db.read((tx) => tx.blockedNodeIds());
      for (const id of blocked) {
        if (this.#byNode.has(id)) this.closeNode(id);
      }
    } catch (e) {
      this.#o.log?.warn({ err: e }, 'live: the revocation check failed');
    } finally {
      this.#checking = false;
    }
  }

  #heartbeat(): void {
    for (const c of [...this.#conns]) {
      if (!c.alive) {
        c.socket.terminate();
        this.#drop(c);
        continue;
      }
      c.alive = false;
      c.socket.ping();
    }
  }
}
