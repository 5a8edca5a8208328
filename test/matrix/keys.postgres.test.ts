import { keyScenarios } from './keys.ts';

// Real schemas with PostgreSQL and SQLite.
keyScenarios('postgres', ['postgres', 'postgres']);
keyScenarios('postgres', ['sqlite', 'sqlite']);
keyScenarios('sqlite', ['postgres', 'postgres']);
