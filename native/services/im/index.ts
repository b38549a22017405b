// What the rest of the engine may use of im: other domains and the composition roots import this, not the files behind it.
export * from './im-service.js';
export * from './mailbox-service.js';
export * from './voicemail-service.js';
export * from './voicemail-view.js';
