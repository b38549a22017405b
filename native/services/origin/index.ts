// What the rest of the engine may use of origin: other domains and the composition roots import this, not the files behind it.
export * from './origin-service.js';
export * from './origin-rescuers.js';
export * from './origin-trust.js';
