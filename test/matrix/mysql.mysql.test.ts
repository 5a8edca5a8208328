import { matrixScenarios } from './scenarios.ts';

// Cells of the 3 × 3 matrix with MariaDB/MySQL and SQLite. The seed
// deployment (a MariaDB hub, labs on MariaDB and on SQLite) is the mixed run.
matrixScenarios('mysql', ['mysql', 'mysql']);
matrixScenarios('mysql', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['mysql', 'mysql']);
matrixScenarios('mysql', ['mysql', 'sqlite']);
