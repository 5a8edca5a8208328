import { setNodeAttrs } from '../hub/enrollment.ts';
import { nodeAttrs } from '../hub/scope-log.ts';
import { OutpostError } from '../protocol/index.ts';
import { withDb } from './node-commands.ts';
import { cliActor, emit } from './output.ts';
import { collectAttr } from './parse-attr.ts';

/** `outpost node attrs NAME [NAME=VALUE …]`: show a node's attributes, or change them (NAME= removes one). */
export function nodeAttrsCommand(name: string, assignments: string[], o: { db: string; json?: boolean }): Promise<void> {
  let changes: Record<string, string> = {};
  try {
    for (const a of assignments) changes = collectAttr(a, changes);
  } catch (e) {
    throw new OutpostError('BAD_REQUEST', (e as Error).message);
  }
  return withDb(o.db, async (db) => {
    let attrs: Record<string, string>;
    if (assignments.length) {
      attrs = { ...(await setNodeAttrs(db, name, changes, Date.now(), { actor: cliActor() })) };
    } else {
      attrs = await db.read(async (tx) => {
        const n = await tx.nodeByName(name);
        if (!n) throw new OutpostError('NOT_FOUND', `no node named ${name}`);
        return { ...(await nodeAttrs(tx, n.id)) };
      });
    }
    const text = Object.entries(attrs).map(([k, v]) => `${k}=${v}`).join('\n');
    emit(!!o.json, { name, attrs }, `${text || '(no attributes)'}${assignments.length ? `\n(${name} takes a fresh snapshot of its scope at its next sync)` : ''}`);
  });
}
