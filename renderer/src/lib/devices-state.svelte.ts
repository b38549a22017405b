// The audio devices to choose from and the user's choice, with echo cancellation on or off,
// remembered across restarts.
import type { CallAudioDevices } from './audio/call-audio.js';
import { availableChoice, deviceOptions, loadDeviceChoice, saveDeviceChoice, type DeviceChoice, type DeviceOption } from './device-choice.js';
import { loadEchoCancellation, saveEchoCancellation } from './voice-processing.js';

export class DevicesState {
  microphones = $state<DeviceOption[]>([{ id: '', label: 'System default' }]);
  speakers = $state<DeviceOption[]>([{ id: '', label: 'System default' }]);
  choice = $state<DeviceChoice>(loadDeviceChoice(localStorage));
  echoCancellation = $state(loadEchoCancellation(localStorage));
  /** Whether this browser can send audio to a chosen speaker (HTMLMediaElement/AudioContext setSinkId). */
  readonly canChooseSpeaker = typeof AudioContext !== 'undefined' && 'setSinkId' in AudioContext.prototype;
  problem = $state<string | undefined>();
  private listening = false;

  /** Reads the device list (and follows it as devices come and go). */
  async refresh(): Promise<void> {
    const media = navigator.mediaDevices;
    if (!media?.enumerateDevices) {
      this.problem = 'This browser cannot list audio devices; Peerdial uses the system default ones.';
      return;
    }
    if (!this.listening) {
      this.listening = true;
      media.addEventListener('devicechange', () => void this.refresh());
    }
    const devices = await media.enumerateDevices();
    this.microphones = deviceOptions(devices, 'microphone');
    this.speakers = deviceOptions(devices, 'speaker');
  }

  /** Device names stay hidden until the page may use the microphone; asking once reveals them. */
  async revealNames(): Promise<void> {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      stream.getTracks().forEach((track) => track.stop());
      this.problem = undefined;
    } catch {
      this.problem = 'Peerdial may not use the microphone, so the devices cannot be named.';
    }
    await this.refresh();
  }

  choose(role: 'microphone' | 'speaker', id: string): void {
    this.choice = { ...this.choice, [role]: id || undefined };
    saveDeviceChoice(localStorage, this.choice);
  }

  setEchoCancellation(on: boolean): void {
    this.echoCancellation = on;
    saveEchoCancellation(localStorage, on);
  }

  /** What a call should use now: the remembered devices that are still connected. */
  forCall(): CallAudioDevices {
    const devices = this.microphones.length <= 1 && this.speakers.length <= 1 ? { ...this.choice } : availableChoice(this.choice, this.microphones, this.speakers);
    return { ...devices, echoCancellation: this.echoCancellation };
  }
}
