import { keyScenarios } from './keys.ts';

// Real schemas with MariaDB/MySQL and SQLite.
keyScenarios('mysql', ['mysql', 'mysql']);
keyScenarios('mysql', ['sqlite', 'sqlite']);
keyScenarios('sqlite', ['mysql', 'mysql']);
