// What the rest of the engine may use of rescue: other domains and the composition roots import this, not the files behind it.
export * from './rescue-server.js';
export * from './rescue-view.js';
