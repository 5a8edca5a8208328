import { InvalidArgumentError } from 'commander';

/** Parse one `NAME=VALUE` (commander's collector for the repeatable `--attr`). */
export function collectAttr(v: string, acc: Record<string, string>): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`${JSON.stringify(v)}: give NAME=VALUE (lab_id=3)`);
  return { ...acc, [v.slice(0, eq)]: v.slice(eq + 1) };
}
