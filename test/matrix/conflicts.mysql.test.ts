import { conflictScenarios } from './conflicts.ts';

// Conflict kinds × policies, the cells with MariaDB/MySQL and SQLite (the seed pairing last).
conflictScenarios('mysql', ['mysql', 'mysql']);
conflictScenarios('mysql', ['sqlite', 'sqlite']);
conflictScenarios('sqlite', ['mysql', 'mysql']);
conflictScenarios('mysql', ['mysql', 'sqlite']);
