export * from './constants.js';
export * from './errors.js';
export * from './frame.js';
export * from './handshake.js';
export * from './notice.js';
export { Reader } from './reader.js';
export { Writer } from './writer.js';
