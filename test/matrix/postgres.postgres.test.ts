import { matrixScenarios } from './scenarios.ts';
import { counterScenarios } from './counters.ts';

// Cells of the 3 × 3 matrix with PostgreSQL and SQLite.
matrixScenarios('postgres', ['postgres', 'postgres']);
counterScenarios('postgres', ['postgres', 'postgres']);
matrixScenarios('postgres', ['sqlite', 'sqlite']);
counterScenarios('postgres', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['postgres', 'postgres']);
counterScenarios('sqlite', ['postgres', 'postgres']);
