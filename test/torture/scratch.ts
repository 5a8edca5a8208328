import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';

/**
 * Where runs keep their SQLite files: memory-backed /dev/shm where there is
 * one (thousands of runs; an fsync there costs nothing, and durability
 * across a real crash is the process tier's subject, not this one's), or
 * OUTPOST_TORTURE_DIR.
 */
export function scratchRoot(): string {
  return process.env.OUTPOST_TORTURE_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
}
