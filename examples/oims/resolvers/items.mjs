// A custom resolver for OIMS items (hub config: "items": { "columns": { "notes": "custom" },
// "resolver": "./resolvers/items.mjs" }). The hub calls it for every conflict on a custom column,
// with both sides and the base where known, and writes what it answers (docs/conflicts.md).
//
// Notes written concurrently by two labs are both kept, one after the other; any other
// conflict on a custom column goes to the review queue.
export default function resolve(conflict) {
  if (conflict.kind === 'column' && conflict.columns.length === 1 && conflict.columns[0] === 'notes') {
    const hub = conflict.hub.values?.notes;
    const node = conflict.node.values?.notes;
    if (hub == null) return { take: 'node' };
    if (node == null || node === hub) return { take: 'hub' };
    return { values: { notes: `${hub}\n---\n${node}` } };
  }
  return { manual: true, reason: 'not a notes conflict' };
}
