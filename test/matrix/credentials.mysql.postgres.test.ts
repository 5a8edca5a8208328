import { credentialScenarios } from './credentials.ts';

// Issue 7's credential flows on a MariaDB hub and a PostgreSQL hub (the bookkeeping SQL is shared; the DDL is each dialect's).
credentialScenarios('mysql', 'sqlite');
credentialScenarios('postgres', 'mysql');
