// Where the settings of an accepted configuration offer go. Bootstrap peers apply live (the
// overlay adds them and, when alone in its ring, joins through them); the rest are stored under
// the keys below for the parts of Peerdial that read them: the overlay name when the engine
// next starts (unless --overlay is given), STUN/TURN for the NAT service, the caller policy for
// incoming calls; the rescue policy is stored and applied to the rescue service at once.
import type { Logger } from '../../log.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import type { SharedConfig } from './lan-view.js';

export const SHARED_CONFIG_KEYS = {
  /** The overlay to be part of from the next start on (string). */
  overlayName: 'overlay.name',
  /** STUN servers, host:port (string[]). */
  stun: 'nat.stun',
  /** TURN relays ({ address, username?, password? }[]). */
  turn: 'nat.turn',
  /** "Help rescue sites" ({ enabled, donateMbit?, donateGbPerDay?, cacheMb? }). */
  rescue: 'rescue.policy',
  /** Who may call ('anyone' | 'buddies'). */
  callerPolicy: 'calls.callerPolicy',
} as const;

export interface BootstrapTarget {
  overlay: string;
  bootstrap: string[];
  addBootstrap(address: string): Promise<void>;
}

/** Applies what `config` carries (only what it carries); returns the names of the settings that changed. */
export async function applySharedConfig(
  config: SharedConfig,
  to: { settings: SettingsRepository; overlay: BootstrapTarget; log: Logger; applyRescuePolicy?(policy: NonNullable<SharedConfig['rescue']>): Promise<unknown> },
): Promise<string[]> {
  const changed: string[] = [];
  const { settings, overlay, log } = to;
  for (const address of config.bootstrap ?? []) {
    if (overlay.bootstrap.includes(address)) continue;
    changed.push('bootstrap');
    // The peer is added at once; joining through it may take a request timeout, so it is not awaited.
    void overlay.addBootstrap(address).catch((error: unknown) => log.warn('offered bootstrap peer not added', { address, error: String(error) }));
  }
  const stored: Array<[keyof typeof SHARED_CONFIG_KEYS, unknown]> = [
    ['overlayName', config.overlay],
    ['stun', config.stun],
    ['turn', config.turn],
    ['rescue', config.rescue],
    ['callerPolicy', config.callerPolicy],
  ];
  for (const [name, value] of stored) {
    if (value === undefined) continue;
    const key = SHARED_CONFIG_KEYS[name];
    if (JSON.stringify(await settings.get(key)) === JSON.stringify(value)) continue;
    await settings.set(key, value);
    changed.push(name);
  }
  // The rescue policy takes effect at once, like the switch on the Rescue screen; a policy the
  // rescue service refuses (out of range) stays stored and is logged.
  if (changed.includes('rescue') && config.rescue && to.applyRescuePolicy) {
    await to.applyRescuePolicy(config.rescue).catch((error: unknown) => log.warn('offered rescue policy not applied', { error: String(error) }));
  }
  return [...new Set(changed)];
}
