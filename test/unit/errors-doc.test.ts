import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../../src/protocol/errors.ts';

const DOC = new URL('../../docs/errors.md', import.meta.url);

/** The `## CODE` sections of docs/errors.md, with the text under each heading. */
function sections(): Map<string, string> {
  const text = readFileSync(DOC, 'utf8');
  const out = new Map<string, string>();
  const headings = [...text.matchAll(/^## (.+?)\s*$/gm)];
  headings.forEach((m, i) => {
    const end = headings[i + 1]?.index ?? text.length;
    const name = m[1]!;
    assert.ok(!out.has(name), `docs/errors.md has two sections "## ${name}"`);
    out.set(name, text.slice(m.index! + m[0].length, end));
  });
  return out;
}

test('every error code has a "## CODE" section in docs/errors.md', () => {
  const documented = sections();
  const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
  assert.deepEqual(missing, [], `codes without a section in docs/errors.md: ${missing.join(', ')}`);
});

test('docs/errors.md documents no code that does not exist', () => {
  const unknown = [...sections().keys()].filter((name) => !Object.hasOwn(ERROR_CODES, name));
  assert.deepEqual(unknown, [], `sections in docs/errors.md for codes not in ERROR_CODES: ${unknown.join(', ')}`);
});

test('each section states the HTTP status of its code', () => {
  for (const [code, body] of sections()) {
    if (!Object.hasOwn(ERROR_CODES, code)) continue;
    const m = /\*\*HTTP status:\*\*\s*(\d{3})/.exec(body);
    assert.ok(m, `## ${code} does not state its HTTP status`);
    assert.equal(Number(m[1]), ERROR_CODES[code as keyof typeof ERROR_CODES].status, `## ${code} states the wrong HTTP status`);
  }
});
