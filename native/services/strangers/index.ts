// What the rest of the engine may use of strangers: other domains and the composition roots import this, not the files behind it.
export * from './strangers-service.js';
export * from './strangers-view.js';
