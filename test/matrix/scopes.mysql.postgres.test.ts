import { scopeScenarios } from './scopes.ts';

// Scopes with hubs and labs on the two servers.
scopeScenarios('mysql', ['postgres', 'sqlite']);
scopeScenarios('postgres', ['mysql', 'sqlite']);
