import { keyScenarios } from './keys.ts';

// Real schemas between the two servers.
keyScenarios('mysql', ['postgres', 'postgres']);
keyScenarios('postgres', ['mysql', 'mysql']);
