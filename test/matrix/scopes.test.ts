import { scopeScenarios } from './scopes.ts';

scopeScenarios('sqlite', ['sqlite', 'sqlite']);
