import { conflictScenarios } from './conflicts.ts';

// Conflict kinds × policies, SQLite cell (the other cells: conflicts.*.test.ts).
conflictScenarios('sqlite', ['sqlite', 'sqlite']);
