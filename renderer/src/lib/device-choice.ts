// The microphone and speaker a user picked, remembered in localStorage, and the choices to
// offer them (enumerateDevices gives empty labels until the page may use the microphone).
export interface DeviceChoice {
  microphone?: string;
  speaker?: string;
}

export interface DeviceOption {
  id: string;
  label: string;
}

// Structural, so the unit tests (compiled without the DOM library) can use this module too.
type StorageLike = { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
type DeviceInfoLike = { deviceId: string; kind: string; label: string };

const KEYS = { microphone: 'peerdial.microphone', speaker: 'peerdial.speaker' } as const;

export function loadDeviceChoice(storage: StorageLike): DeviceChoice {
  return { microphone: storage.getItem(KEYS.microphone) ?? undefined, speaker: storage.getItem(KEYS.speaker) ?? undefined };
}

export function saveDeviceChoice(storage: StorageLike, choice: DeviceChoice): void {
  for (const role of ['microphone', 'speaker'] as const) {
    const id = choice[role];
    if (id) storage.setItem(KEYS[role], id);
    else storage.removeItem(KEYS[role]);
  }
}

/** The devices of one kind, the system default first; unnamed ones get "Microphone 2" and so on. */
export function deviceOptions(devices: readonly DeviceInfoLike[], role: 'microphone' | 'speaker'): DeviceOption[] {
  const kind = role === 'microphone' ? 'audioinput' : 'audiooutput';
  const noun = role === 'microphone' ? 'Microphone' : 'Speaker';
  const options: DeviceOption[] = [{ id: '', label: 'System default' }];
  let n = 0;
  for (const device of devices) {
    if (device.kind !== kind || device.deviceId === 'default' || device.deviceId === '') continue;
    n++;
    options.push({ id: device.deviceId, label: device.label || `${noun} ${n}` });
  }
  return options;
}

/** A remembered device that is no longer connected falls back to the default. */
export function availableChoice(choice: DeviceChoice, microphones: readonly DeviceOption[], speakers: readonly DeviceOption[]): DeviceChoice {
  const known = (id: string | undefined, options: readonly DeviceOption[]) => (id && options.some((o) => o.id === id) ? id : undefined);
  return { microphone: known(choice.microphone, microphones), speaker: known(choice.speaker, speakers) };
}
