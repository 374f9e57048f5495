export * from './keys.js';
export * from './versions.js';
export * from './subjects.js';
export * from './events.js';
export * from './outbox.js';
export * from './registry.js';
export * from './compatibility.js';
