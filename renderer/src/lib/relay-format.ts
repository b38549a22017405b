// Words and numbers of the Network screen's "Relays" card: the member's own relay ("Relay calls
// for others"), its caps form, and the relays this node's calls would use. Pure, so the unit
// tests check what the card shows.
import type { RelayCandidateView, RelayServerView, RelaySettings, RelayView } from './control-types.js';
import { BYTES_PER_GB, formatBytes, formatCount, formatMbit, mbitNumber } from './rescue-format.js';

const STATE_WORDS: Record<RelayServerView['state'], string> = {
  running: 'running',
  off: 'off',
  'not-eligible': 'not relaying',
  failed: 'could not start',
};

/** The relay's state as the card's "State" row says it. */
export function relayStateWords(state: RelayServerView['state']): string {
  return STATE_WORDS[state];
}

/** A relayed rate: "0 kbit/s", "87 kbit/s", "1.5 Mbit/s". */
export function rateWords(bitsPerSecond: number): string {
  if (!Number.isFinite(bitsPerSecond) || bitsPerSecond <= 0) return '0 kbit/s';
  if (bitsPerSecond < 999_500) return `${formatCount(bitsPerSecond / 1000)} kbit/s`;
  return formatMbit(bitsPerSecond / 1e6);
}

/** "2.4 MB of 5 GB": what was relayed today (UTC) against the daily volume. */
export function relayedTodayWords(bytesToday: number, maxGbPerDay: number): string {
  return `${formatBytes(bytesToday)} of ${formatBytes(maxGbPerDay * BYTES_PER_GB)}`;
}

/** "87 kbit/s of 10 Mbit/s". */
export function rateOfCapWords(bitsPerSecond: number, maxMbit: number): string {
  return `${rateWords(bitsPerSecond)} of ${formatMbit(maxMbit)}`;
}

/** "1 call", "3 calls": a relayed call takes one allocation on each relay it goes through. */
export function callsWords(n: number): string {
  return `${formatCount(n)} call${n === 1 ? '' : 's'}`;
}

/** A round trip: "0.4 ms" below 10 ms (loopback, a LAN), whole milliseconds above. */
export function millisecondsWords(ms: number): string {
  const value = ms < 10 ? Number(Math.max(0, ms).toFixed(1)) : Math.round(ms);
  return `${value} ms`;
}

// --- The caps: "Relay calls for others" gives at most this much ------------------------------

export type CapsField = Exclude<keyof RelaySettings, 'enabled'>;
export const CAPS_FIELDS: readonly CapsField[] = ['maxMbit', 'maxGbPerDay'];
export const CAPS_LABELS: Record<CapsField, { label: string; words: string }> = {
  maxMbit: { label: 'Bandwidth cap (Mbit/s)', words: 'The bandwidth cap' },
  maxGbPerDay: { label: 'Daily volume (GB)', words: 'The daily volume' },
};

export type CapsForm = Record<CapsField, string>;
export type Caps = Pick<RelaySettings, CapsField>;

export function capsForm(settings: Caps): CapsForm {
  return { maxMbit: String(settings.maxMbit), maxGbPerDay: String(settings.maxGbPerDay) };
}

export type CapsParse = { ok: true; value: Caps } | { ok: false; field: CapsField; message: string };

/** The caps form's fields, as NumberFieldsForm takes them. */
export const CAPS_FORM_FIELDS = CAPS_FIELDS.map((key) => ({ key, label: CAPS_LABELS[key].label }));

/**
 * The caps the form says, or which field is not a number. The ranges are the engine's to check:
 * its refusal names the limits in its own words.
 */
export function capsFromForm(form: CapsForm): CapsParse {
  const caps = {} as Caps;
  for (const field of CAPS_FIELDS) {
    const text = form[field].trim();
    const n = text === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n)) return { ok: false, field, message: `${CAPS_LABELS[field].words} must be a number.` };
    caps[field] = n;
  }
  return { ok: true, value: caps };
}

// --- Relays for your calls: the relay finder's list ------------------------------------------

export interface RelayLine {
  /** Who runs it: its address, or "Your TURN server (host:port)". */
  name: string;
  /** "0.4 ms round trip, carrying 2 calls, 9.5 Mbit/s spare", and "over TCP" where UDP does not get through. */
  figures: string;
  ready: boolean;
  /** "ready for your calls", or why it is not used. */
  status: string;
}

/** One relay of the finder's list as the card shows it. */
export function relayLine(relay: RelayCandidateView): RelayLine {
  const plain = relay.label === relay.address ? relay.address : `${relay.label} (${relay.address})`;
  const name = relay.source === 'configured' ? `Your TURN server (${relay.address})` : relay.source === 'lan' ? `${plain}, on this LAN` : plain;
  const figures = [
    relay.rttMs !== undefined ? `${millisecondsWords(relay.rttMs)} round trip` : 'round trip not measured',
    relay.load !== undefined ? `carrying ${callsWords(relay.load)}` : '',
    relay.headroomMbit !== undefined ? `${mbitNumber(relay.headroomMbit)} Mbit/s spare` : '',
    relay.transport === 'tcp' ? 'over TCP' : '',
  ];
  // Without a note it answered but is not among the best two, the ones kept ready.
  const status = relay.ready ? 'ready for your calls' : (relay.note ?? 'in reserve: the best two are kept ready');
  return { name, figures: figures.filter(Boolean).join(', '), ready: relay.ready, status };
}

/** Under the list: when the finder last looked, or that it has not yet. */
export function measuredWords(finder: RelayView['finder'], timeOf: (ms: number) => string): string {
  return finder.measuredAt !== undefined ? `Looked for relays at ${timeOf(finder.measuredAt)}.` : 'Not looked for relays yet.';
}
