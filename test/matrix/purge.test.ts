import { purgeScenarios } from './purge.ts';

// Purge with a retention horizon on a SQLite hub with SQLite labs; *.mysql.postgres.test.ts runs it on the servers.
purgeScenarios('sqlite', ['sqlite', 'sqlite', 'sqlite']);
