// What the rest of the engine may use of dht: other domains and the composition roots import this, not the files behind it.
export * from './dht-service.js';
export * from './dht-view.js';
