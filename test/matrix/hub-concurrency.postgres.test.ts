import { hubConcurrency, hubRowRace } from './hub-concurrency.ts';

hubConcurrency('postgres');
hubRowRace('postgres');
