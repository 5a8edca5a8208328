import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { OIMS_CONFIG, oimsDatabase, tempDir } from '../helpers/fixtures.ts';
import { canonicalRows } from '../helpers/replicas.ts';
import { openAdapter } from '../../src/adapters/open.ts';
import { HubProcess, cannot, cursorOf, integrity, isRoot, joinLab, killNow, outpostProcess, sh, skipBecause, until, type Finished } from './processes-kit.ts';

/**
 * A partition that drops packets silently: the hub in the root network
 * namespace, the lab's `outpost` processes in a namespace of their own joined
 * to it by a veth pair, and iptables DROP rules (no RST, no ICMP) in the lab's
 * namespace. Needs root, `ip netns` and iptables; skipped, with the reason,
 * where the machine lacks them.
 */

interface Net { ns: string; hubIp: string; prefix: string[]; drop(): void; heal(): void }

function network(t: { after: (fn: () => unknown) => void }): Net | { skip: string } {
  if (!isRoot()) return { skip: 'network namespaces need root' };
  for (const [cmd, args] of [['ip', ['-V']], ['iptables', ['--version']]] as const) {
    const why = cannot(cmd, [...args]);
    if (why) return { skip: why };
  }
  const id = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`.slice(-7);
  const ns = `outpost-${id}`;
  const [host, peer] = [`oph${id}`, `opn${id}`];
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`;
  const hubIp = `${net}.1`;
  const why = cannot('ip', ['netns', 'add', ns]);
  if (why) return { skip: `cannot create a network namespace here: ${why}` };
  t.after(() => {
    // deleting the namespace deletes the veth end inside it, and with it the pair
    cannot('ip', ['netns', 'del', ns]);
    cannot('ip', ['link', 'del', host]);
  });
  const inNs = (cmd: string, ...args: string[]): string => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  sh('ip', ['link', 'set', peer, 'netns', ns]);
  sh('ip', ['addr', 'add', `${hubIp}/24`, 'dev', host]);
  sh('ip', ['link', 'set', host, 'up']);
  inNs('ip', 'addr', 'add', `${net}.2/24`, 'dev', peer);
  inNs('ip', 'link', 'set', peer, 'up');
  inNs('ip', 'link', 'set', 'lo', 'up');
  const probe = cannot('ip', ['netns', 'exec', ns, 'iptables', '-S']);
  if (probe) return { skip: `iptables does not work in a network namespace here: ${probe}` };
  return {
    ns, hubIp, prefix: ['ip', 'netns', 'exec', ns],
    drop() {
      inNs('iptables', '-A', 'OUTPUT', '-d', hubIp, '-j', 'DROP');
      inNs('iptables', '-A', 'INPUT', '-s', hubIp, '-j', 'DROP');
    },
    heal() {
      inNs('iptables', '-F');
    },
  };
}

const lastJson = (r: Finished): { ok: boolean; code?: string; message?: string } => JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');

test('a silent partition (iptables DROP) mid-sync: the sync fails with HUB_UNREACHABLE after its timeout, and the next sync converges', async (t) => {
  const net = network(t);
  if ('skip' in net) return skipBecause(t, net.skip);
  const dir = tempDir(t, 'outpost-netns-');
  // Small pull pages make the pull long enough to cut in the middle.
  const config = join(dir, 'outpost.config.json');
  writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(OIMS_CONFIG, 'utf8')), limits: { bodyBytes: 16 * 1024 * 1024, pullPage: 50 } }));
  const hubPath = oimsDatabase(join(dir, 'hub.db'));
  const hub = await HubProcess.start(hubPath, { host: net.hubIp, config });
  t.after(() => hub.kill());
  const labPath = join(dir, 'lab-a.db');
  await joinLab(hub, 'lab-a', labPath, { prefix: net.prefix });

  const web = new Database(hubPath);
  web.pragma('busy_timeout = 5000');
  const ins = web.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES (?, 'lab-c', ?, ?)");
  web.transaction(() => { for (let i = 1; i <= 6000; i++) ins.run(`hub-${i}`, `hub item ${i}`, i); })();
  web.close();
  const app = new Database(labPath);
  t.after(() => app.close());
  app.pragma('busy_timeout = 5000');
  app.prepare("INSERT INTO items (id, lab_id, name, quantity) VALUES ('lab-a-1', 'lab-a', 'written in the lab', 1)").run();

  const sync = (): { child: import('node:child_process').ChildProcess; done: Promise<Finished> } =>
    outpostProcess(['sync', '--db', `sqlite:${labPath}`, '--timeout', '3', '--json'], { prefix: net.prefix });
  const start = cursorOf(labPath);
  const first = sync();
  t.after(() => killNow(first.child));
  let exited = false;
  void first.done.then(() => (exited = true));
  await until(() => exited || cursorOf(labPath) > start, 60_000, 'the pull to start');
  assert.ok(!exited, 'the sync was still pulling when the partition began');
  net.drop();
  const cutAt = Date.now();
  const cursorAtCut = cursorOf(labPath);
  // A sync that hangs on a silent network would never end: bound the wait well above its timeout.
  await until(() => exited, 60_000, 'the sync to give up on the silent hub');
  const failed = await first.done;
  const out = lastJson(failed);
  console.log(`# the sync gave up ${Date.now() - cutAt} ms after the partition began (timeout 3 s): exit ${failed.code}, ${out.code}: ${out.message}`);
  assert.equal(out.code, 'HUB_UNREACHABLE', `${failed.stdout}${failed.stderr}`);
  assert.match(out.message ?? '', /no answer within 3 s|no data from the hub for 3 s/);
  assert.equal(failed.code, 3);
  assert.ok(cursorOf(labPath) >= cursorAtCut, 'the cursor did not move backwards');
  assert.equal(integrity(labPath), 'ok');

  // While the partition lasts, a new sync fails the same way (its connection attempt is dropped).
  const during = await sync().done;
  assert.equal(lastJson(during).code, 'HUB_UNREACHABLE');

  net.heal();
  const healedAt = Date.now();
  const ok = await sync().done;
  assert.equal(ok.code, 0, ok.stderr);
  console.log(`# converged ${Date.now() - healedAt} ms after the partition ended`);
  const [h, l] = [await openAdapter(`sqlite:${hubPath}`), await openAdapter(`sqlite:${labPath}`)];
  t.after(() => h.close());
  t.after(() => l.close());
  for (const table of ['labs', 'categories', 'items']) assert.deepEqual(await canonicalRows(l, table), await canonicalRows(h, table), `${table} equal after the partition healed`);
  assert.equal((await canonicalRows(h, 'items')).length, 6001, 'the lab\'s write reached the hub');
  assert.equal(integrity(hubPath), 'ok');
});
