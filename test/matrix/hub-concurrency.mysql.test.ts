import { hubConcurrency, hubRowRace, nodeRowRace } from './hub-concurrency.ts';

hubConcurrency('mysql');
hubRowRace('mysql');
nodeRowRace('mysql');
