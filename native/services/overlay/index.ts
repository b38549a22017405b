// What the rest of the engine may use of overlay: other domains and the composition roots import this, not the files behind it.
export * from './overlay-service.js';
