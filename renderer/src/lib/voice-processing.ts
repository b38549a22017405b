// What the browser does to the microphone before a call hears it: echo cancellation (a user may
// turn it off, e.g. with headphones, where it can only clip their voice), noise suppression and
// automatic gain control. Calls and "Check microphone" ask for the same, so the meter shows what
// the other side will get.

// Structural, so the unit tests (compiled without the DOM library) can use this module too.
type StorageLike = { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };

const ECHO_CANCELLATION_KEY = 'peerdial.echoCancellation';

/** On unless the user turned it off. */
export function loadEchoCancellation(storage: StorageLike): boolean {
  return storage.getItem(ECHO_CANCELLATION_KEY) !== 'off';
}

export function saveEchoCancellation(storage: StorageLike, on: boolean): void {
  if (on) storage.removeItem(ECHO_CANCELLATION_KEY);
  else storage.setItem(ECHO_CANCELLATION_KEY, 'off');
}

/** getUserMedia's `audio` constraints for `microphone` (undefined: the system default). */
export function microphoneConstraints(microphone: string | undefined, echoCancellation: boolean) {
  return {
    deviceId: microphone ? { exact: microphone } : undefined,
    echoCancellation,
    noiseSuppression: true,
    autoGainControl: true,
    channelCount: 1,
  };
}
