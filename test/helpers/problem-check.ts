import { ERROR_CODES } from '../../src/protocol/index.ts';

const KNOWN = new Set(Object.keys(ERROR_CODES));

/** What is wrong with an answer of the hub (a 5xx, or a refusal that is not a problem+json with a known code), or null. */
export function judge(res: { statusCode: number; headers: Record<string, unknown>; body: string }): string | null {
  if (res.statusCode >= 500) return `answered ${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode < 400) return null;
  if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) return `a ${res.statusCode} answered as ${String(res.headers['content-type'])}: ${res.body.slice(0, 200)}`;
  let p: { code?: unknown; status?: unknown; type?: unknown; title?: unknown; detail?: unknown };
  try {
    p = JSON.parse(res.body) as typeof p;
  } catch {
    return `a problem that is not JSON: ${res.body.slice(0, 200)}`;
  }
  if (typeof p.code !== 'string' || !KNOWN.has(p.code)) return `unknown code ${JSON.stringify(p.code)}`;
  if (p.status !== res.statusCode) return `problem status ${String(p.status)} on a ${res.statusCode} answer`;
  if (ERROR_CODES[p.code as keyof typeof ERROR_CODES].status !== res.statusCode) return `${p.code} answered with ${res.statusCode}`;
  if (typeof p.detail !== 'string' || typeof p.title !== 'string' || typeof p.type !== 'string') return 'a problem without type, title or detail';
  return null;
}

