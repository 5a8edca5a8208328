import { matrixScenarios } from './scenarios.ts';
import { counterScenarios } from './counters.ts';
import { quarantineScenarios } from './quarantine.ts';

// The 3 × 3 matrix: this file is the SQLite cell; *.mysql.test.ts, *.postgres.test.ts
// and *.mysql.postgres.test.ts hold the cells that need those servers.
matrixScenarios('sqlite', ['sqlite', 'sqlite']);
counterScenarios('sqlite', ['sqlite', 'sqlite']);
quarantineScenarios('sqlite', ['sqlite', 'sqlite']);
