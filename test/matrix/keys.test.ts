import { keyScenarios } from './keys.ts';

// Real schemas (generated keys, composite keys, foreign keys): the SQLite cell.
keyScenarios('sqlite', ['sqlite', 'sqlite']);
