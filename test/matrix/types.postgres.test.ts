import { typeScenarios } from './types.ts';

typeScenarios('postgres', 'postgres');
typeScenarios('postgres', 'sqlite');
typeScenarios('sqlite', 'postgres');
