import { matrixScenarios } from './scenarios.ts';
import { counterScenarios } from './counters.ts';
import { quarantineScenarios } from './quarantine.ts';

// Cells of the 3 × 3 matrix with MariaDB/MySQL and SQLite. The seed
// deployment (a MariaDB hub, labs on MariaDB and on SQLite) is the mixed run.
matrixScenarios('mysql', ['mysql', 'mysql']);
counterScenarios('mysql', ['mysql', 'mysql']);
matrixScenarios('mysql', ['sqlite', 'sqlite']);
counterScenarios('mysql', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['mysql', 'mysql']);
counterScenarios('sqlite', ['mysql', 'mysql']);
matrixScenarios('mysql', ['mysql', 'sqlite']);
counterScenarios('mysql', ['mysql', 'sqlite']);
// Quarantine (issue 6): every dialect as hub and as lab.
quarantineScenarios('mysql', ['mysql', 'sqlite']);
quarantineScenarios('sqlite', ['mysql', 'mysql']);
