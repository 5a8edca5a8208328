import { selfReference } from './self-reference.ts';

selfReference('sqlite', 'sqlite');
