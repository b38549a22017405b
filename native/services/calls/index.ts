// What the rest of the engine may use of calls: other domains and the composition roots import this, not the files behind it.
export * from './call-service.js';
export * from './call-view.js';
export * from './call-audio.js';
export * from './media-session.js';
export * from './wav-file-audio.js';
export { OFFERED_CODECS } from './voice-codecs.js';
export type { AudioCodecName } from '../../wire/sdp/audio-offer-answer.js';
export type { CallPortMapping, CallSocket, IceGatheringConfig, RelayLeg } from './ice-path.js';
