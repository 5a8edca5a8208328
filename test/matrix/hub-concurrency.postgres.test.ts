import { hubConcurrency, hubRowRace, nodeRowRace } from './hub-concurrency.ts';

hubConcurrency('postgres');
hubRowRace('postgres');
nodeRowRace('postgres');
