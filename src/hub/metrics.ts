import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The hub's Prometheus metrics, one registry per server. */
export class HubMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'outpost_requests_total', help: 'Protocol requests by route and outcome', labelNames: ['route', 'status'] as const, registers: [this.registry] });
  readonly pushedChanges = new Counter({ name: 'outpost_pushed_changes_total', help: 'Changes received in push pages (retries of committed groups not counted)', registers: [this.registry] });
  readonly appliedChanges = new Counter({ name: 'outpost_applied_changes_total', help: 'Pushed changes that won and entered the change log', registers: [this.registry] });
  readonly conflicts = new Counter({ name: 'outpost_conflicts_total', help: 'Conflicts recorded while applying pushes', registers: [this.registry] });
  readonly pulledChanges = new Counter({ name: 'outpost_pulled_changes_total', help: 'Changes sent to nodes by pulls and by pages in live pokes', registers: [this.registry] });
  readonly snapshotRows = new Counter({ name: 'outpost_snapshot_rows_total', help: 'Rows sent in snapshots', registers: [this.registry] });
  readonly purged = new Counter({ name: 'outpost_purged_total', help: 'Rows removed by purges of this hub process: change-log entries, delete markers, staged push pages', labelNames: ['what'] as const, registers: [this.registry] });
  readonly duration = new Histogram({ name: 'outpost_request_duration_seconds', help: 'Protocol request duration', labelNames: ['route'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly quarantined = new Counter({ name: 'outpost_quarantined_total', help: 'Pushed changes the hub database refused (a constraint) and quarantined, with those held behind them', registers: [this.registry] });
  readonly quarantineOpen = new Gauge({ name: 'outpost_quarantine_open', help: 'Quarantined changes waiting for an admin (status open)', registers: [this.registry] });
  readonly logSeq = new Gauge({ name: 'outpost_log_seq', help: 'Highest sequence of the hub change log', registers: [this.registry] });
  readonly conflictsOpen = new Gauge({ name: 'outpost_conflicts_open', help: 'Conflicts waiting for an admin (manual policy, or left to an admin by a resolver)', registers: [this.registry] });
  readonly pushes = new Counter({ name: 'outpost_pushes_total', help: 'Push pages by outcome: committed (a group applied), staged (a page of a group kept for later), duplicate (a retry of a committed group), refused (4xx), failed (5xx)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly pulls = new Counter({ name: 'outpost_pulls_total', help: 'Pull requests by outcome: ok, refused (4xx, e.g. CURSOR_EXPIRED), failed (5xx)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly pushApplyDuration = new Histogram({ name: 'outpost_push_apply_duration_seconds', help: 'Time to apply a push group in its transaction (the page that commits it), seconds', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly pullDuration = new Histogram({ name: 'outpost_pull_duration_seconds', help: 'Time to read one pull page, seconds', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly nodeLag = new Gauge({ name: 'outpost_node_lag', help: 'Change-log entries a node has not pulled yet', labelNames: ['node'] as const, registers: [this.registry] });

  readonly liveNodes = new Gauge({ name: 'outpost_live_nodes', help: 'Open live WebSockets (GET /v1/live) of nodes on this hub process', registers: [this.registry] });
  readonly pokes = new Counter({ name: 'outpost_live_pokes_total', help: 'Pokes sent to live nodes by this hub process', registers: [this.registry] });
  readonly pokePages = new Counter({ name: 'outpost_live_poke_pages_total', help: "Pokes that carried the commit's changes (a page the node applies without pulling)", registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'outpost_' });
  }
}
