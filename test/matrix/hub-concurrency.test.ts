import { hubConcurrency } from './hub-concurrency.ts';

hubConcurrency('sqlite');
