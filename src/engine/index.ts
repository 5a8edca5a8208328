export * from './row-meta.ts';
export * from './resolve.ts';
export * from './apply-order.ts';
export * from './apply-changes.ts';
export * from './coalesce.ts';
export * from './stamp.ts';
export * from './replica-tx.ts';
export * from './stamp-captured.ts';
