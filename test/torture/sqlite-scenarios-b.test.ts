import { tortureTier } from './suite.ts';

// The in-process tier, second half.
tortureTier('torture: 1,000 seeded SQLite scenarios (seeds 1001…2000)', { first: 1001, runs: 1000, dialects: ['sqlite'], maxSteps: 40 });
