import { tortureTier } from './suite.ts';

// Hubs and labs of every dialect (MariaDB and PostgreSQL databases are made per run, so fewer runs).
tortureTier('torture: 40 seeded scenarios on SQLite, MariaDB and PostgreSQL hubs and labs', { first: 50_001, runs: 40, dialects: ['sqlite', 'mysql', 'postgres'], maxSteps: 30 });
