import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import * as messages from '../../src/protocol/messages.ts';

/**
 * Every JSON example in docs/protocol.md marked `<!-- schema: NAME -->` must
 * parse with that schema and lose nothing (no key the schema does not know).
 */
test('the examples in docs/protocol.md match the message schemas exactly', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/<!-- schema: (\w+) -->\s*```json\n([\s\S]*?)```/g)];
  assert.ok(blocks.length >= 10, `found ${blocks.length} marked examples`);
  const names = new Set<string>();
  for (const [, name, body] of blocks) {
    const schema = (messages as Record<string, unknown>)[name!] as z.ZodType | undefined;
    assert.ok(schema, `docs/protocol.md names an unknown schema ${name}`);
    const raw: unknown = JSON.parse(body!);
    const parsed = schema.safeParse(raw);
    assert.ok(parsed.success, `${name} example does not parse: ${parsed.success ? '' : parsed.error.message}`);
    assert.deepEqual(parsed.data, raw, `${name} example has keys the schema does not know`);
    names.add(name!);
  }
  for (const required of ['changeSchema', 'handshakeResponseSchema', 'pushRequestSchema', 'pushResponseSchema', 'pullResponseSchema', 'snapshotLineSchema']) {
    assert.ok(names.has(required), `docs/protocol.md has no example of ${required}`);
  }
});
