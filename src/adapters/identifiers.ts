import { OutpostError, isReservedKey } from '../protocol/index.ts';

/**
 * Synced table and column names must be plain identifiers. They come only
 * from the validated catalogue, and this keeps trigger bodies and change
 * lists unambiguous whatever the dialect.
 */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function assertIdentifier(name: string, what: string): string {
  if (!IDENT.test(name) || name.toLowerCase().startsWith('_outpost')) {
    throw new OutpostError('SCHEMA_INVALID', `${what} ${JSON.stringify(name)} cannot be synced: use letters, digits and _ (at most 63), not starting with _outpost`);
  }
  if (isReservedKey(name)) throw new OutpostError('SCHEMA_INVALID', `${what} ${JSON.stringify(name)} cannot be synced: the name is reserved (__proto__, constructor, prototype)`);
  return name;
}
