/**
 * The PouchDB peer's server: express-pouchdb on an express app, databases on
 * disk (leveldb) under --dir, listening on 127.0.0.1 on a free port. Started by
 * bench/peers/pouchdb.ts as `node --import tsx bench/peers/pouchdb-server.ts --dir DIR`.
 *
 * Talks in JSON lines: prints {"port":N} on stdout once listening; for each
 * line 'stats' on stdin, prints {"bytesRead","bytesWritten","maxRssBytes"}
 * (bytes of all its HTTP connections so far, both ways, as its sockets counted
 * them, and its own peak RSS); exits on 'exit' or when stdin closes (so it
 * never outlives the bench).
 */
import { mkdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import express from 'express';
import expressPouchDB from 'express-pouchdb';
import PouchDB from 'pouchdb';

const { values: args } = parseArgs({ options: { dir: { type: 'string' } } });
if (!args.dir) throw new Error('usage: pouchdb-server.ts --dir DIR');
const dataDir = join(args.dir, 'server-data');
mkdirSync(dataDir, { recursive: true });

const ServerPouchDB = PouchDB.defaults({ prefix: dataDir + '/' });
const app = express();
app.disable('x-powered-by');
// 'minimumForPouchDB' leaves out the config, logging, Fauxton, auth and replicator
// parts; the config and log paths are under dir anyway, in case one is ever included.
app.use(expressPouchDB(ServerPouchDB, {
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  configPath: join(args.dir, 'server-config.json'),
  logPath: join(args.dir, 'server-log.txt'),
}));

// Wire bytes, counted on the server's sockets (no proxy in the path).
let closedRead = 0;
let closedWritten = 0;
const open = new Set<Socket>();
const server = app.listen(0, '127.0.0.1', (err?: Error) => {
  if (err) throw err;
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
});
server.on('connection', (socket: Socket) => {
  open.add(socket);
  socket.on('close', () => {
    open.delete(socket);
    closedRead += socket.bytesRead;
    closedWritten += socket.bytesWritten;
  });
});

function stats(): { bytesRead: number; bytesWritten: number; maxRssBytes: number } {
  let bytesRead = closedRead;
  let bytesWritten = closedWritten;
  for (const socket of open) {
    bytesRead += socket.bytesRead;
    bytesWritten += socket.bytesWritten;
  }
  return { bytesRead, bytesWritten, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
}

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const command = line.trim();
  if (command === 'stats') process.stdout.write(JSON.stringify(stats()) + '\n');
  else if (command === 'exit') process.exit(0);
});
input.on('close', () => process.exit(0));
