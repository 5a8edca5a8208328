/**
 * A TCP proxy on 127.0.0.1 that counts every byte between a node and the
 * hub, both ways: HTTP headers, handshakes, gzip bodies, everything that
 * would cross a network.
 */
import { createServer, connect, type Socket } from 'node:net';

export interface ByteCounts {
  /** node → hub */
  up: number;
  /** hub → node */
  down: number;
}

export interface CountingProxy {
  /** the hub's URL through the proxy */
  url: string;
  counts(): ByteCounts;
  close(): Promise<void>;
}

export async function countingProxy(target: string): Promise<CountingProxy> {
  const to = new URL(target);
  const counts: ByteCounts = { up: 0, down: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const hub = connect({ host: to.hostname, port: Number(to.port) });
    for (const s of [client, hub]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), hub.destroy()));
    }
    client.on('data', (c: Buffer) => (counts.up += c.length));
    hub.on('data', (c: Buffer) => (counts.down += c.length));
    client.pipe(hub);
    hub.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** The bytes between two readings. */
export function bytesBetween(before: ByteCounts, after: ByteCounts): number {
  return after.up - before.up + (after.down - before.down);
}
