export * from './outbox.js';
export * from './read-models.js';
