// What the rest of the engine may use of presence: other domains and the composition roots import this, not the files behind it.
export * from './buddy-service.js';
export * from './buddy-view.js';
export * from './presence-service.js';
