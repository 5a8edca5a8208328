import { hubConcurrency, hubRowRace, nodePushRace, nodeRowRace } from './hub-concurrency.ts';

hubConcurrency('mysql');
hubRowRace('mysql');
nodeRowRace('mysql');
nodePushRace('mysql');
