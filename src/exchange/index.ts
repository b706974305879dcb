export * from './batch-files.js';
export * from './file-format.js';
export * from './generation.js';
export * from './keys.js';
export * from './reader.js';
export * from './records.js';
export * from './streams.js';
export * from './writer.js';
