import { tortureTier } from './suite.ts';

// The in-process tier, first half (the second half runs beside it in another file).
tortureTier('torture: 1,000 seeded SQLite scenarios (seeds 1…1000)', { first: 1, runs: 1000, dialects: ['sqlite'], maxSteps: 40 });
