// "Share my settings with this LAN": the form's fields, filled from what this node has (what
// it shares already, else what an offer it follows set, else its overlay), and turned back into
// the settings to share. The engine checks them again and says what is wrong in its own words.
import type { SharedConfig } from './control-types.js';

export const SHARE_FIELDS = ['overlay', 'bootstrap', 'stun', 'turn', 'rescue', 'callerPolicy'] as const;
export type ShareField = (typeof SHARE_FIELDS)[number];

export const SHARE_FIELD_LABELS: Record<ShareField, string> = {
  overlay: 'Overlay name',
  bootstrap: 'Bootstrap peers',
  stun: 'STUN servers',
  turn: 'TURN relays',
  rescue: 'Rescue policy',
  callerPolicy: 'Caller policy',
};

export interface ShareForm {
  chosen: Record<ShareField, boolean>;
  overlay: string;
  /** One HOST:PORT a line. */
  bootstrap: string;
  stun: string;
  /** One relay a line: HOST:PORT, then optionally a user name and a password. */
  turn: string;
  rescueEnabled: boolean;
  donateMbit: string;
  donateGbPerDay: string;
  cacheMb: string;
  callerPolicy: 'anyone' | 'buddies';
}

export interface ShareSources {
  /** What this node shares now. */
  sharing?: SharedConfig;
  /** What offers this node follows set (newest last). */
  followed?: SharedConfig[];
  /** The overlay this node is in, and its bootstrap peers. */
  overlay?: { overlay: string; bootstrap: string[] };
}

export function initialShareForm(sources: ShareSources): ShareForm {
  const fromOverlay: SharedConfig = sources.overlay ? { overlay: sources.overlay.overlay, bootstrap: sources.overlay.bootstrap } : {};
  const current: SharedConfig = sources.sharing ?? Object.assign({}, fromOverlay, ...(sources.followed ?? []));
  const chosen = Object.fromEntries(SHARE_FIELDS.map((f) => [f, sources.sharing ? current[f] !== undefined : f === 'overlay' || f === 'bootstrap'])) as Record<ShareField, boolean>;
  const number = (n: number | undefined) => (n === undefined ? '' : String(n));
  return {
    chosen,
    overlay: current.overlay ?? fromOverlay.overlay ?? '',
    bootstrap: (current.bootstrap ?? []).join('\n'),
    stun: (current.stun ?? []).join('\n'),
    turn: (current.turn ?? []).map((t) => [t.address, t.username, t.username ? t.password : undefined].filter(Boolean).join(' ')).join('\n'),
    rescueEnabled: current.rescue?.enabled ?? false,
    donateMbit: number(current.rescue?.donateMbit),
    donateGbPerDay: number(current.rescue?.donateGbPerDay),
    cacheMb: number(current.rescue?.cacheMb),
    callerPolicy: current.callerPolicy ?? 'anyone',
  };
}

/** The settings the form says to share, or a sentence saying what to fix. */
export function configFromForm(form: ShareForm): SharedConfig | string {
  const config: SharedConfig = {};
  const lines = (text: string) => text.split(/[\n,]/).map((l) => l.trim()).filter(Boolean);
  if (form.chosen.overlay) {
    if (!form.overlay.trim()) return 'Give the overlay name to share, or untick it.';
    config.overlay = form.overlay.trim();
  }
  if (form.chosen.bootstrap) config.bootstrap = lines(form.bootstrap);
  if (form.chosen.stun) config.stun = lines(form.stun);
  if (form.chosen.turn) {
    config.turn = form.turn
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([address, username, password]) => ({ address, ...(username ? { username } : {}), ...(password ? { password } : {}) }));
  }
  if (form.chosen.rescue) {
    const rescue: NonNullable<SharedConfig['rescue']> = { enabled: form.rescueEnabled };
    for (const [key, text, words] of [
      ['donateMbit', form.donateMbit, 'upload to donate'],
      ['donateGbPerDay', form.donateGbPerDay, 'data a day'],
      ['cacheMb', form.cacheMb, 'cache size'],
    ] as const) {
      if (!text.trim()) continue;
      const n = Number(text);
      if (!Number.isFinite(n) || n < 0) return `The ${words} must be a number of 0 or more.`;
      rescue[key] = n;
    }
    config.rescue = rescue;
  }
  if (form.chosen.callerPolicy) config.callerPolicy = form.callerPolicy;
  if (Object.keys(config).length === 0) return 'Choose at least one setting to share.';
  return config;
}
