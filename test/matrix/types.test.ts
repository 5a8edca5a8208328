import { typeScenarios } from './types.ts';

typeScenarios('sqlite', 'sqlite');
