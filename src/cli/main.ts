import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_HUB_DB } from './defaults.ts';
import { collectAttr } from './parse-attr.ts';

// Each command's module is loaded when the command runs: `outpost node add`
// need not load the hub server, nor `outpost --version` anything.
const hubCommand: typeof import('./hub-command.ts').hubCommand = (...a) => import('./hub-command.ts').then((m) => m.hubCommand(...a));
const schemaRefresh: typeof import('./schema-command.ts').schemaRefresh = (...a) => import('./schema-command.ts').then((m) => m.schemaRefresh(...a));
const join: typeof import('./node-commands.ts').join = (...a) => import('./node-commands.ts').then((m) => m.join(...a));
const nodeAdd: typeof import('./node-commands.ts').nodeAdd = (...a) => import('./node-commands.ts').then((m) => m.nodeAdd(...a));
const nodeRevoke: typeof import('./node-commands.ts').nodeRevoke = (...a) => import('./node-commands.ts').then((m) => m.nodeRevoke(...a));
const nodeRotate: typeof import('./node-commands.ts').nodeRotate = (...a) => import('./node-commands.ts').then((m) => m.nodeRotate(...a));
const rotate: typeof import('./node-commands.ts').rotate = (...a) => import('./node-commands.ts').then((m) => m.rotate(...a));
const run: typeof import('./node-commands.ts').run = (...a) => import('./node-commands.ts').then((m) => m.run(...a));
const sync: typeof import('./node-commands.ts').sync = (...a) => import('./node-commands.ts').then((m) => m.sync(...a));
const adminAdd: typeof import('./admin-command.ts').adminAdd = (...a) => import('./admin-command.ts').then((m) => m.adminAdd(...a));
const nodeAttrsCommand: typeof import('./node-attrs-command.ts').nodeAttrsCommand = (...a) => import('./node-attrs-command.ts').then((m) => m.nodeAttrsCommand(...a));
const status: typeof import('./status-command.ts').status = (...a) => import('./status-command.ts').then((m) => m.status(...a));
const purge: typeof import('./purge-command.ts').purge = (...a) => import('./purge-command.ts').then((m) => m.purge(...a));
const verify: typeof import('./verify-command.ts').verify = (...a) => import('./verify-command.ts').then((m) => m.verify(...a));
const conflictsList: typeof import('./conflicts-command.ts').conflictsList = (...a) => import('./conflicts-command.ts').then((m) => m.conflictsList(...a));
const conflictsResolve: typeof import('./conflicts-command.ts').conflictsResolve = (...a) => import('./conflicts-command.ts').then((m) => m.conflictsResolve(...a));
const conflictsShow: typeof import('./conflicts-command.ts').conflictsShow = (...a) => import('./conflicts-command.ts').then((m) => m.conflictsShow(...a));
const quarantineDiscard: typeof import('./quarantine-command.ts').quarantineDiscard = (...a) => import('./quarantine-command.ts').then((m) => m.quarantineDiscard(...a));
const quarantineList: typeof import('./quarantine-command.ts').quarantineList = (...a) => import('./quarantine-command.ts').then((m) => m.quarantineList(...a));
const quarantineRetry: typeof import('./quarantine-command.ts').quarantineRetry = (...a) => import('./quarantine-command.ts').then((m) => m.quarantineRetry(...a));
const quarantineShow: typeof import('./quarantine-command.ts').quarantineShow = (...a) => import('./quarantine-command.ts').then((m) => m.quarantineShow(...a));
import { fail } from './output.ts';
import { setCommandOptions } from './secrets.ts';

const program = new Command()
  .name('outpost')
  .description('Offline-first two-way sync between a hub database and lab databases')
  .version((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version)
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

/** Commander parsers that refuse nonsense before anything runs. */
const positive = (v: string): string => {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return v;
};
const port = (v: string): string => {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('expected a port number (0-65535)');
  return v;
};

const count = (v: string): string => {
  if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError('expected a non-negative integer');
  return v;
};
const statusOf = (v: string): string => {
  if (!['open', 'auto', 'resolved', 'all'].includes(v)) throw new InvalidArgumentError('expected open, auto, resolved or all');
  return v;
};

const buckets = (v: string): string => {
  if (!/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > 4096) throw new InvalidArgumentError('expected a number of buckets from 1 to 4096');
  return v;
};

/**
 * A command's action, its errors reported. With `exit`, the process ends as
 * soon as the command is done (its database is closed by then): a request
 * abandoned on its timeout can leave a connection attempt that would keep the
 * process alive for seconds more (a silently dropped SYN, say).
 */
const act = <A extends unknown[]>(fn: (...a: A) => Promise<void>, o: { exit?: boolean } = {}) => async (...a: A): Promise<void> => {
  const opts = a.find((x) => typeof x === 'object' && x !== null && 'json' in (x as object)) as { json?: boolean } | undefined;
  try {
    await fn(...a);
  } catch (e) {
    fail(e, !!opts?.json);
  }
  if (o.exit) process.exit(process.exitCode ?? 0);
};

program
  .command('hub')
  .description('start the hub server')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--port <n>', 'port', port, '4000')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--config <file>', 'hub config (tables, directions, policies); default: the OIMS example')
  .option('--tls-cert <file>', 'serve HTTPS (TLS 1.2 or newer) with this PEM certificate (chain); needs --tls-key')
  .option('--tls-key <file>', 'the PEM private key of --tls-cert')
  .option('--shutdown-grace <seconds>', 'on SIGTERM/SIGINT, how long requests under way may take to finish before they are abandoned', positive, '10')
  .action(act(hubCommand));

const node = program.command('node').description('manage nodes on the hub');
node
  .command('add <name>')
  .description('enroll a node (again, for one that never joined: a new code); prints its one-time code')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--expires-in <duration>', 'how long the code works: 90s, 30m, 24h, 7d (at most 30d)', '24h')
  .option('--attr <name=value>', 'an attribute of the node that scopes name as $node.NAME (repeatable): --attr lab_id=3', collectAttr, {})
  .action(act(nodeAdd));
node
  .command('attrs <name> [assignments...]')
  .description("show or set a node's attributes (NAME=VALUE; NAME= removes one); the node then takes a fresh snapshot of its new scope")
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--json', 'machine-readable output')
  .action(act(nodeAttrsCommand));
node
  .command('rotate <name>')
  .description("re-key an enrolled node: its credential stops working now; prints a one-time code for `outpost rotate --code` on the node")
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--expires-in <duration>', 'how long the code works: 90s, 30m, 24h, 7d (at most 30d)', '24h')
  .action(act(nodeRotate));
node
  .command('revoke <name>')
  .description("revoke a node's credential")
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .action(act(nodeRevoke));

program
  .command('rotate')
  .description("give this node a new credential (the old one stops working once the new one is used); with --code, redeem a code from `outpost node rotate`")
  .requiredOption('--db <url>', "this node's database URL")
  .option('--code <code>', 'one-time code from `outpost node rotate NAME`')
  .option('--timeout <seconds>', "seconds to wait for the hub's answer before failing with HUB_UNREACHABLE", positive, '60')
  .option('--json', 'machine-readable output')
  .action(act(rotate, { exit: true }));

const admin = program.command('admin').description('admin accounts of the console on the hub');
admin
  .command('add <name>')
  .description('add an admin account; the password is asked on the terminal, or read from standard input with --password-stdin')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--role <role>', 'admin (everything) or viewer (read only)', 'admin')
  .option('--password-stdin', 'read the password from standard input (one line)')
  .option('--json', 'machine-readable output')
  .action(act(adminAdd));

program
  .command('join')
  .description('join a hub with a one-time code, provision the tables and take the first snapshot')
  .requiredOption('--hub <url>', 'hub URL, http://host:port')
  .requiredOption('--code <code>', 'one-time code from `outpost node add`')
  .requiredOption('--db <url>', 'this node\'s database URL')
  .option('--ca <file>', "PEM certificate of the CA that signed an https:// hub's certificate (stored in the node's state; default: Node's trust store)")
  .option('--timeout <seconds>', "seconds to wait for the hub's answer (for a snapshot: for its next bytes) before failing with HUB_UNREACHABLE", positive, '60')
  .option('--json', 'machine-readable output')
  .action(act(join, { exit: true }));

program
  .command('sync')
  .description('push local changes and pull the hub\'s, once')
  .requiredOption('--db <url>', 'node database URL')
  .option('--json', 'machine-readable output')
  .option('--ca <file>', "PEM certificate of the CA that signed an https:// hub's certificate (stored in the node's state; default: Node's trust store)")
  .option('--timeout <seconds>', "seconds to wait for the hub's answer (for a snapshot: for its next bytes) before failing with HUB_UNREACHABLE", positive, '60')
  .action(act(sync, { exit: true }));

program
  .command('run')
  .description('keep syncing: live (pulled when the hub pokes, local writes pushed at once) and on a schedule (interval or cron, quiet hours), retrying with backoff; optionally serve a local control endpoint')
  .requiredOption('--db <url>', 'node database URL')
  .option('--interval <seconds>', 'seconds between syncs (default 30)', positive)
  .option('--every <duration>', 'sync every 90s, 30m, 2h, 1d (instead of --interval)')
  .option('--cron <expression>', 'sync at the slots of a cron expression, e.g. "*/30 * * * *" (instead of --interval)')
  .option('--quiet-hours <HH:MM-HH:MM>', 'no scheduled sync during these local hours, e.g. 22:00-06:00 (on-demand syncs still run)')
  .option('--time-zone <zone>', 'IANA time zone of --cron and --quiet-hours (default: this machine\'s)')
  .option('--control-port <n>', 'serve POST /sync and GET /status on 127.0.0.1:N for a desktop app (0: any free port)', port)
  .option('--control-token-file <file>', 'require the token in this file (created, mode 0600, if missing) on the control endpoint')
  .option('--shutdown-grace <seconds>', 'on SIGTERM/SIGINT, how long the sync under way may take to finish before it is abandoned', positive, '10')
  .option('--ca <file>', "PEM certificate of the CA that signed an https:// hub's certificate (stored in the node's state; default: Node's trust store)")
  .option('--timeout <seconds>', "seconds to wait for the hub's answer (for a snapshot: for its next bytes) before failing with HUB_UNREACHABLE", positive, '60')
  .option('--json', 'machine-readable output, one line per sync')
  .option('--no-live', 'no WebSocket to the hub: sync only every --interval (live mode pulls when the hub pokes and pushes local writes at once)')
  .action(act(run, { exit: true }));

program
  .command('verify')
  .description('compare this node with the hub table by table and name the rows that differ; --repair takes the hub\'s version')
  .requiredOption('--db <url>', 'node database URL')
  .option('--repair', 'overwrite differing rows with the hub\'s (the old values are kept in _outpost_repairs)')
  .option('--no-sync', 'compare as things are, without a sync first')
  .option('--buckets <n>', 'checksum buckets per table (1-4096, default 256)', buckets)
  .option('--ca <file>', "PEM certificate of the CA that signed an https:// hub's certificate (stored in the node's state; default: Node's trust store)")
  .option('--json', 'machine-readable output')
  .action(act(verify));

program
  .command('schema')
  .description('hub schema maintenance')
  .command('refresh')
  .description('pick up nullable columns added to synced tables on the hub (running hubs follow; nodes take them on at their next sync)')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--config <file>', 'hub config; default: the OIMS example')
  .option('--json', 'machine-readable output')
  .action(act(schemaRefresh));

program
  .command('purge')
  .description('purge change-log entries and delete markers every node seen within the retention horizon has pulled past')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--config <file>', 'hub config (retention); default: the OIMS example')
  .option('--json', 'machine-readable output')
  .action(act(purge));

const conflicts = program.command('conflicts').description('the conflict log and its review queue on the hub');
conflicts
  .command('list')
  .description('conflicts waiting for review (--status all|auto|open|resolved)')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--status <status>', 'open (waiting for review), auto (decided by their rule), resolved (by an admin) or all', statusOf, 'open')
  .option('--table <name>', 'only this table')
  .option('--after <id>', 'only conflicts with a higher id', count)
  .option('--limit <n>', 'at most this many', count, '100')
  .option('--json', 'machine-readable output')
  .action(act(conflictsList));
conflicts
  .command('show <id>')
  .description('one conflict: both sides, who wrote them, the base, the rule, the result')
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--json', 'machine-readable output')
  .action(act(conflictsShow));
conflicts
  .command('resolve <id>')
  .description("settle an open conflict: keep the hub's side, take the node's, or set values; replicates to every node")
  .option('--db <url>', 'hub database URL', DEFAULT_HUB_DB)
  .option('--config <file>', 'hub config; default: the OIMS example')
  .option('--take <side>', 'hub or node')
  .option('--set <col=value...>', 'write these values (JSON or text), e.g. --set quantity=12 notes="recounted"')
  .option('--by <name>', 'who resolves, for the audit trail (default: your user name)')
  .option('--json', 'machine-readable output')
  .action(act(conflictsResolve));
const quarantine = program.command('quarantine').description('changes a database refused (a constraint they break), kept with their error: list, show, retry, discard (hub or node database)');
quarantine
  .command('list')
  .description('open quarantined changes (--all: also applied and discarded ones)')
  .requiredOption('--db <url>', 'hub or node database URL')
  .option('--all', 'also the resolved ones')
  .option('--json', 'machine-readable output')
  .action(act(quarantineList));
quarantine
  .command('show <id>')
  .description('one quarantined change, with the change itself')
  .requiredOption('--db <url>', 'hub or node database URL')
  .option('--json', 'machine-readable output')
  .action(act(quarantineShow));
quarantine
  .command('retry <id>')
  .description('apply it again (with the changes held behind it); if refused again it stays open with the new error')
  .requiredOption('--db <url>', 'hub or node database URL')
  .option('--config <file>', 'hub config (a hub database); default: the OIMS example')
  .option('--json', 'machine-readable output')
  .action(act(quarantineRetry));
quarantine
  .command('discard <id>')
  .description("drop it (kept for the record); on a hub the node then takes the hub's version of the row")
  .requiredOption('--db <url>', 'hub or node database URL')
  .option('--config <file>', 'hub config (a hub database); default: the OIMS example')
  .option('--json', 'machine-readable output')
  .action(act(quarantineDiscard));

program
  .command('status')
  .description('a node: pending changes, last sync, cursor; a hub: nodes and their lag')
  .requiredOption('--db <url>', 'database URL')
  .option('--json', 'machine-readable output')
  .action(act(status));

// Every command that opens a database can open an encrypted SQLite file: its
// key comes from a file or the environment, never from the command line.
const withDbOption = (c: Command): Command[] => [c, ...c.commands.flatMap(withDbOption)].filter((x) => x.options.some((o) => o.long === '--db'));
for (const c of withDbOption(program)) c.option('--db-key-file <file>', 'file holding the encryption key of a SQLite database (else OUTPOST_DB_KEY)');
program.hook('preAction', (_program, action) => setCommandOptions(action.opts()));

await program.parseAsync(process.argv);
