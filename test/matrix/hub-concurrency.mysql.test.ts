import { hubConcurrency, hubRowRace } from './hub-concurrency.ts';

hubConcurrency('mysql');
hubRowRace('mysql');
