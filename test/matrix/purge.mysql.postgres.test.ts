import { purgeScenarios } from './purge.ts';

// The key purge scenarios on a MariaDB hub and a PostgreSQL hub, with labs of every dialect.
purgeScenarios('mysql', ['mysql', 'postgres', 'sqlite'], { keyOnly: true });
purgeScenarios('postgres', ['postgres', 'sqlite', 'mysql'], { keyOnly: true });
