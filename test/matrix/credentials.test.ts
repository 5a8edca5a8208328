import { credentialScenarios } from './credentials.ts';

// Issue 7's credential flows on a SQLite hub (MariaDB and PostgreSQL hubs: credentials.mysql.postgres.test.ts).
credentialScenarios('sqlite', 'sqlite');
