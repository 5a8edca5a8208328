import { OutpostError } from '../protocol/index.ts';
import type { AdminRole } from '../adapters/adapter.ts';
import { addAdmin } from '../hub/admin-accounts.ts';
import { withDb } from './node-commands.ts';
import { cliActor, emit } from './output.ts';

/**
 * `outpost admin add NAME [--role admin|viewer] [--password-stdin] --db HUB_URL`.
 * The password is asked twice on the terminal (not echoed), or read from
 * standard input with --password-stdin; never taken from the command line.
 */
export async function adminAdd(name: string, o: { db: string; role: string; passwordStdin?: boolean; json?: boolean }): Promise<void> {
  if (o.role !== 'admin' && o.role !== 'viewer') throw new OutpostError('BAD_REQUEST', `--role must be admin or viewer, not ${JSON.stringify(o.role)}`);
  let password: string;
  if (o.passwordStdin) {
    password = (await readAll(process.stdin)).replace(/\r?\n$/, '');
  } else if (process.stdin.isTTY && process.stderr.isTTY) {
    password = await askHidden(`password for ${name}: `);
    if ((await askHidden('again: ')) !== password) throw new OutpostError('BAD_REQUEST', 'the two passwords differ');
  } else {
    throw new OutpostError('BAD_REQUEST', 'no terminal to ask for the password on: pipe it in with --password-stdin');
  }
  await withDb(o.db, async (db) => {
    const a = await addAdmin(db, { name, password, role: o.role as AdminRole, actor: cliActor() });
    emit(!!o.json, { ok: true, name: a.name, role: a.role }, `added admin ${a.name} (${a.role})`);
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** Read a line from the terminal without echoing it. */
function askHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    let value = '';
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new OutpostError('BAD_REQUEST', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on('data', onData);
  });
}
