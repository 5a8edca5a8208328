import { matrixScenarios } from './scenarios.ts';
import { quarantineScenarios } from './quarantine.ts';

// Cells of the 3 × 3 matrix with MariaDB/MySQL and SQLite. The seed
// deployment (a MariaDB hub, labs on MariaDB and on SQLite) is the mixed run.
matrixScenarios('mysql', ['mysql', 'mysql']);
matrixScenarios('mysql', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['mysql', 'mysql']);
matrixScenarios('mysql', ['mysql', 'sqlite']);
// Quarantine (issue 6): every dialect as hub and as lab.
quarantineScenarios('mysql', ['mysql', 'sqlite']);
quarantineScenarios('sqlite', ['mysql', 'mysql']);
