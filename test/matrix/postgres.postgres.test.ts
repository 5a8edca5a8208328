import { matrixScenarios } from './scenarios.ts';
import { counterScenarios } from './counters.ts';
import { quarantineScenarios } from './quarantine.ts';

// Cells of the 3 × 3 matrix with PostgreSQL and SQLite.
matrixScenarios('postgres', ['postgres', 'postgres']);
counterScenarios('postgres', ['postgres', 'postgres']);
matrixScenarios('postgres', ['sqlite', 'sqlite']);
counterScenarios('postgres', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['postgres', 'postgres']);
counterScenarios('sqlite', ['postgres', 'postgres']);
// Quarantine (issue 6): every dialect as hub and as lab.
quarantineScenarios('postgres', ['postgres', 'sqlite']);
quarantineScenarios('sqlite', ['postgres', 'postgres']);
