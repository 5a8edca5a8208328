import { conflictScenarios } from './conflicts.ts';

// Conflict kinds × policies, the cells between the two servers.
conflictScenarios('mysql', ['postgres', 'postgres']);
conflictScenarios('postgres', ['mysql', 'mysql']);
