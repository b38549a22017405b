// What the rest of the engine may use of identity: other domains and the composition roots import this, not the files behind it.
export * from './identity-service.js';
