import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import { LIVE_MAX_PAYLOAD, OutpostError } from '../protocol/index.ts';
import type { NodeRecord } from '../adapters/adapter.ts';
import type { Hub } from './hub.ts';
import type { CommitNotice } from './commit-notice.ts';
import type { Fanout } from './fanout.ts';
import { LiveHub, type LiveMetrics, type PokeFilter } from './live.ts';
import { nodeAttrs } from './scope-log.ts';
import { pageFor } from './live-page.ts';
import { scopedPokeFilter } from './scope-poke.ts';
import type { NodeAttrs } from './scopes.ts';

export interface LiveOptions {
  /** whom a commit concerns (default: every live node but the origin whose read scope the commit touched; scope-poke.ts) */
  pokeFilter?: PokeFilter;
  /** how often website writes are sequenced and the log's head is checked while nodes are connected (default 150 ms) */
  watchMs?: number;
  /** how often connected nodes' credentials are checked (default 400 ms) */
  revocationCheckMs?: number;
  heartbeatMs?: number;
}

/**
 * `GET /v1/live` (docs/live.md): a node's WebSocket, authenticated with its
 * bearer token before the upgrade (401 problem otherwise). Commits of this
 * process (`Hub.onCommit`) poke the live nodes they concern and go to the
 * other hub processes through `fanout`; theirs poke ours. While nodes are
 * connected, a timer sequences website writes (which the hub otherwise does
 * lazily, at the next request) and notices the log's head moving by writers
 * it was not told of (`outpost conflicts resolve` in another process, a
 * lost fanout message): then every live node is poked.
 */
export async function registerLive(app: FastifyInstance, hub: Hub, o: { auth: (req: FastifyRequest) => Promise<NodeRecord>; fanout: Fanout; metrics: LiveMetrics; log?: Logger } & LiveOptions): Promise<LiveHub> {
  const attrsOf = new WeakMap<FastifyRequest, NodeAttrs>();
  let knownHead = await hub.db.read((tx) => tx.maxLogSeq());
  const scoped = hub.scopes.size > 0;
  const live = new LiveHub({
    db: hub.db,
    filter: o.pokeFilter ?? scopedPokeFilter(hub.scopes, hub.catalogue.byName),
    metrics: o.metrics,
    log: o.log,
    revocationCheckMs: o.revocationCheckMs,
    heartbeatMs: o.heartbeatMs,
    pageFor: (n, node) => pageFor(n, node, hub.catalogue.byName, scoped),
    clock: () => hub.clock.tick(),
    // An ack is a pull's position: bookkeeping for lag and purges, never beyond the log's end.
    onAck: (node, cursor) => {
      if (cursor <= knownHead) hub.notePulled(node.id, cursor);
    },
  });
  // Commit notices carry their entries while nodes that take pages are connected (a scoped hub sends none; live-page.ts).
  if (!scoped) hub.wantPages = () => live.pageable > 0;
  const heard = (n: CommitNotice): void => {
    knownHead = Math.max(knownHead, n.head);
    live.poke(n);
  };
  hub.onCommit((n) => {
    heard(n);
    o.fanout.publish(n);
  });
  o.fanout.subscribe(heard);

  let busy = false;
  const watch = setInterval(() => {
    if (live.size === 0 || busy) return;
    busy = true;
    (async () => {
      await hub.sequencePending(); // a commit here pokes through onCommit
      const head = await hub.db.read((tx) => tx.maxLogSeq());
      if (head > knownHead) heard({ head, entries: null });
    })()
      .catch((e: unknown) => o.log?.warn({ err: e }, 'live: sequencing website writes failed'))
      .finally(() => (busy = false));
  }, o.watchMs ?? 150);
  watch.unref();

  await app.register(websocket, { options: { maxPayload: LIVE_MAX_PAYLOAD } });
  app.addHook('onClose', async () => {
    clearInterval(watch);
    live.close();
    await o.fanout.close();
  });

  app.route({
    method: 'GET',
    url: '/v1/live',
    // The credential is checked before the upgrade: a bad one is a 401 problem, and no socket.
    preValidation: async (req) => {
      req.node = await o.auth(req);
      // Its attributes, for the scope-aware poke filter (a change of them makes the node re-snapshot anyway).
      attrsOf.set(req, await hub.db.read((tx) => nodeAttrs(tx, req.node!.id)));
    },
    handler: async () => {
      throw new OutpostError('BAD_REQUEST', 'GET /v1/live is a WebSocket: send it with Upgrade: websocket');
    },
    wsHandler: (socket, req) => {
      // `?pages=1`: the node can apply a commit's changes carried in its poke.
      const pages = (req.query as Record<string, unknown> | undefined)?.pages === '1';
      live.accept(req.node!, socket, knownHead, attrsOf.get(req) ?? {}, pages);
    },
  });
  return live;
}
