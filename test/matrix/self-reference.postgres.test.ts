import { selfReference } from './self-reference.ts';

selfReference('sqlite', 'postgres');
selfReference('postgres', 'postgres');
