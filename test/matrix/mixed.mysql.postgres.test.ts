import { matrixScenarios } from './scenarios.ts';

// Cells of the 3 × 3 matrix between the two servers.
matrixScenarios('mysql', ['postgres', 'postgres']);
matrixScenarios('postgres', ['mysql', 'mysql']);
