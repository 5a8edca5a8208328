import { hubConcurrency, hubRowRace, nodePushRace, nodeRowRace } from './hub-concurrency.ts';

hubConcurrency('postgres');
hubRowRace('postgres');
nodeRowRace('postgres');
nodePushRace('postgres');
