// What the window may ask Chromium for: the microphone (audio only, never the camera or the
// screen) and the choice of speaker, for calls. Everything else stays refused.
export function isCallAudioPermission(permission: string, mediaTypes?: readonly string[]): boolean {
  if (permission === 'speaker-selection') return true;
  if (permission !== 'media') return false;
  // A check (not a request) names no media types; a request must ask for audio and nothing else.
  return mediaTypes === undefined || (mediaTypes.length > 0 && mediaTypes.every((type) => type === 'audio'));
}
