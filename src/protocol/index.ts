export * from './hlc.ts';
export * from './errors.ts';
export * from './values.ts';
export * from './schema.ts';
export * from './messages.ts';
export * from './version.ts';
export * from './fast-parse.ts';
