import { matrixProperty } from './property.ts';

matrixProperty('mysql', ['mysql', 'postgres', 'sqlite']);
matrixProperty('postgres', ['postgres', 'mysql', 'sqlite']);
