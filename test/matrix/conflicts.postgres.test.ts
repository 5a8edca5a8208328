import { conflictScenarios } from './conflicts.ts';

// Conflict kinds × policies, the cells with PostgreSQL and SQLite.
conflictScenarios('postgres', ['postgres', 'postgres']);
conflictScenarios('postgres', ['sqlite', 'sqlite']);
conflictScenarios('sqlite', ['postgres', 'postgres']);
