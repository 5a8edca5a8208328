import { selfReference } from './self-reference.ts';

selfReference('sqlite', 'mysql');
selfReference('mysql', 'mysql');
