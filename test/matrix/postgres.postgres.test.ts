import { matrixScenarios } from './scenarios.ts';

// Cells of the 3 × 3 matrix with PostgreSQL and SQLite.
matrixScenarios('postgres', ['postgres', 'postgres']);
matrixScenarios('postgres', ['sqlite', 'sqlite']);
matrixScenarios('sqlite', ['postgres', 'postgres']);
