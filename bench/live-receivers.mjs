// A worker thread of `npm run bench:live`: worker threads do not inherit
// tsx's loader, so it is registered here before the TypeScript module runs.
import { register } from 'tsx/esm/api';

register();
await import('./live-receivers.ts');
