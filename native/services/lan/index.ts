// What the rest of the engine may use of lan: other domains and the composition roots import this, not the files behind it.
export * from './config-offer-service.js';
export * from './lan-discovery.js';
export * from './lan-view.js';
