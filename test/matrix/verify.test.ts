import { verifyScenario } from './verify.ts';

// Verify and repair on SQLite; verify.mysql.postgres.test.ts runs it across the two servers.
verifyScenario('sqlite', 'sqlite');
