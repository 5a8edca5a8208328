import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OutpostError } from '../protocol/index.ts';
import type { CustomResolver } from '../engine/index.ts';
import type { HubConfig } from './config.ts';

/**
 * Load the custom resolver of every table whose config names one: the
 * module's default export (or its export `resolve`) must be a function
 * `(conflict) => decision` (docs/conflicts.md). A module that cannot be
 * loaded, or exports no function, stops the hub at start with CONFIG_INVALID.
 */
export async function loadResolvers(config: HubConfig): Promise<Map<string, CustomResolver>> {
  const out = new Map<string, CustomResolver>();
  for (const [table, tc] of Object.entries(config.tables)) {
    if (!tc.resolver) continue;
    const spec = isAbsolute(tc.resolver) ? pathToFileURL(tc.resolver).href : tc.resolver;
    let mod: { default?: unknown; resolve?: unknown };
    try {
      mod = (await import(spec)) as { default?: unknown; resolve?: unknown };
    } catch (e) {
      throw new OutpostError('CONFIG_INVALID', `tables.${table}.resolver: cannot load ${tc.resolver}: ${(e as Error).message}`);
    }
    const fn = typeof mod.default === 'function' ? mod.default : mod.resolve;
    if (typeof fn !== 'function') throw new OutpostError('CONFIG_INVALID', `tables.${table}.resolver: ${tc.resolver} exports no function (a default export, or one named resolve)`);
    out.set(table, fn as CustomResolver);
  }
  return out;
}
