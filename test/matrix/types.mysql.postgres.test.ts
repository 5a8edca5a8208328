import { typeScenarios } from './types.ts';

typeScenarios('mysql', 'postgres');
typeScenarios('postgres', 'mysql');
