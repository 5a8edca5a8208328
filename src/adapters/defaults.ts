/**
 * Column defaults across dialects: each database spells "the current time"
 * its own way. A default that means it is recognised here, so that a table
 * provisioned on another dialect gets that dialect's own spelling.
 */
const NOW = [
  /^current_timestamp(\s*\(\s*\d?\s*\))?$/i,
  /^now\(\s*\d?\s*\)$/i,
  /^localtimestamp(\s*\(\s*\d?\s*\))?$/i,
  /^(strftime\s*\(\s*'[^']*'\s*,\s*'now'\s*\)|datetime\s*\(\s*'now'\s*\))$/i,
];

export function isNowDefault(d: string | null | undefined): boolean {
  let v = d?.trim() ?? '';
  while (v.startsWith('(') && v.endsWith(')')) v = v.slice(1, -1).trim();
  return NOW.some((re) => re.test(v));
}
