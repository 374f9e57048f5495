export { fetchLargeEvent } from './large-events.js';
