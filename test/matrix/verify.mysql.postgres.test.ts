import { verifyScenario } from './verify.ts';

// Text keys that differ only in case, or sort differently under MariaDB's and
// PostgreSQL's collations, compared across the two dialects both ways.
verifyScenario('mysql', 'postgres');
verifyScenario('postgres', 'mysql');
