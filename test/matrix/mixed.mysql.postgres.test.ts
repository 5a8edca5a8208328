import { matrixScenarios } from './scenarios.ts';
import { counterScenarios } from './counters.ts';
import { quarantineScenarios } from './quarantine.ts';

// Cells of the 3 × 3 matrix between the two servers.
matrixScenarios('mysql', ['postgres', 'postgres']);
counterScenarios('mysql', ['postgres', 'postgres']);
matrixScenarios('postgres', ['mysql', 'mysql']);
counterScenarios('postgres', ['mysql', 'mysql']);
// Quarantine (issue 6): every dialect as hub and as lab.
quarantineScenarios('mysql', ['postgres', 'postgres']);
quarantineScenarios('postgres', ['mysql', 'mysql']);
