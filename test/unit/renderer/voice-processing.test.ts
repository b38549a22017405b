import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadEchoCancellation, microphoneConstraints, saveEchoCancellation } from '../../../renderer/src/lib/voice-processing.js';

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => void items.set(key, value),
    removeItem: (key: string) => void items.delete(key),
  };
}

describe('voice processing settings', () => {
  it('keeps echo cancellation on until the user turns it off, and remembers that', () => {
    const storage = memoryStorage();
    assert.equal(loadEchoCancellation(storage), true);
    saveEchoCancellation(storage, false);
    assert.equal(loadEchoCancellation(storage), false);
    saveEchoCancellation(storage, true);
    assert.equal(loadEchoCancellation(storage), true);
    assert.equal(storage.items.size, 0, 'on is the default, so nothing is stored for it');
  });

  it('asks for the chosen microphone with noise suppression and gain control, and echo cancellation as set', () => {
    assert.deepEqual(microphoneConstraints('mic-a', false), {
      deviceId: { exact: 'mic-a' },
      echoCancellation: false,
      noiseSuppression: true,
      autoGainControl: true,
      channelCount: 1,
    });
    const fallback = microphoneConstraints(undefined, true);
    assert.equal(fallback.deviceId, undefined, 'the system default microphone');
    assert.equal(fallback.echoCancellation, true);
  });
});
