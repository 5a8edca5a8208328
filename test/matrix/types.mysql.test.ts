import { typeScenarios } from './types.ts';

typeScenarios('mysql', 'mysql');
typeScenarios('mysql', 'sqlite');
typeScenarios('sqlite', 'mysql');
