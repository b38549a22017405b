// How calls read on screen: state words, durations, quality figures, history lines.
import type { CallHistoryEntry, CallQuality, CallView } from './control-types.js';

/** The in-call status line. */
export function callStateLabel(call: Pick<CallView, 'state' | 'hold' | 'direction'>): string {
  switch (call.state) {
    case 'calling':
      return 'Calling…';
    case 'ringing':
      return 'Ringing…';
    case 'incoming':
      return 'Incoming call';
    case 'ended':
      return 'Call ended';
    case 'active':
      if (call.hold === 'local' || call.hold === 'both') return 'On hold';
      if (call.hold === 'remote') return 'They put you on hold';
      return 'Connected';
  }
}

/** 0:07, 12:34, 1:02:03 */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** Talk time so far: counted from the answer, never from the first ring. */
export function talkSeconds(call: Pick<CallView, 'answeredAt' | 'endedAt'>, now: number): number {
  if (call.answeredAt === undefined) return 0;
  return Math.max(0, Math.floor(((call.endedAt ?? now) - call.answeredAt) / 1000));
}

export interface QualityFigures {
  codec: string;
  loss: string;
  jitter: string;
  roundTrip: string;
  /** "64 kbit/s", once a second of audio went out. */
  bitrate?: string;
  /** "4.4 (excellent)": the engine's MOS estimate, in the usual bands. */
  rating?: string;
}

/** How a MOS reads: 4.3 and above is what a good phone line gives. */
function mosWords(mos: number): string {
  return mos >= 4.3 ? 'excellent' : mos >= 4.0 ? 'good' : mos >= 3.6 ? 'fair' : mos >= 3.1 ? 'poor' : 'bad';
}

/** The codec as a person reads it: the wideband ones say so. */
export function codecWords(codec: string): string {
  if (codec === 'opus') return 'Opus (wideband)';
  if (codec === 'G722') return 'G.722 (wideband)';
  return codec;
}

export function qualityFigures(quality: CallQuality): QualityFigures {
  return {
    ...(quality.bitrateKbps !== undefined ? { bitrate: `${Math.round(quality.bitrateKbps)} kbit/s` } : {}),
    ...(quality.mos !== undefined ? { rating: `${quality.mos.toFixed(1)} (${mosWords(quality.mos)})` } : {}),
    codec: codecWords(quality.codec),
    loss: `${(quality.lossFraction * 100).toFixed(1)} %`,
    jitter: `${Math.round(quality.jitterMs)} ms`,
    roundTrip: quality.rttMs === undefined ? 'not measured yet' : `${Math.round(quality.rttMs)} ms`,
  };
}

/** How the audio travels, on calls between Peerdial users (ICE); plain SIP phones have none. */
export type MediaPath = NonNullable<CallQuality['path']>;

/** A round trip or a wait: "0.4 ms" below 10 ms, whole milliseconds up to a second, then "1.2 s". */
function msWords(ms: number): string {
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(1))} s`;
  return `${ms < 10 ? Number(Math.max(0, ms).toFixed(1)) : Math.round(ms)} ms`;
}

/** "198.51.100.11:43401" -> "198.51.100.11" (and "[2001:db8::1]:3478" -> "2001:db8::1"): a member is known by its address. */
function withoutPorts(text: string): string {
  return text.replace(/\b(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}\b/g, '$1').replace(/\[([0-9a-fA-F:.]+)\]:\d{1,5}\b/g, '$1');
}

/** The call's path in one line: "Direct, 12 ms", "Relayed by 198.51.100.11, 31 ms". */
export function pathLine(path: MediaPath): string {
  const text = withoutPorts(path.text.trim()) || path.kind;
  const words = text.charAt(0).toUpperCase() + text.slice(1);
  return path.rttMs === undefined ? words : `${words}, ${msWords(path.rttMs)}`;
}

const CANDIDATE_WORDS: Record<string, string> = {
  host: 'own address',
  srflx: 'public address',
  prflx: 'public address, met in the checks',
  relay: 'on a relay',
};

/** "srflx 203.0.113.7:40012" -> "203.0.113.7:40012 (public address)". */
export function candidateWords(candidate: string): string {
  const [type, ...rest] = candidate.trim().split(/\s+/);
  const address = rest.join(' ');
  const words = CANDIDATE_WORDS[type];
  if (!words || !address) return candidate;
  return `${address} (${words})`;
}

export interface PathDetails {
  yourEnd: string;
  theirEnd: string;
  /** How long the checks took to find the path; absent while not known. */
  foundIn?: string;
}

/** The quality panel's path rows: both ends of the path and how long the checks took. */
export function pathDetails(path: MediaPath): PathDetails {
  return {
    yourEnd: candidateWords(path.local),
    theirEnd: candidateWords(path.remote),
    ...(path.checksMs !== undefined ? { foundIn: msWords(path.checksMs) } : {}),
  };
}

/** Who it is, for headings and lists: the name they gave, else their address. */
export function callerName(call: Pick<CallView, 'peer' | 'peerName'>): string {
  return call.peerName?.trim() || call.peer;
}

/** The history's kind column: a missed call is what a person looks for first. */
export function historyKind(entry: Pick<CallHistoryEntry, 'direction' | 'outcome'>): 'Missed' | 'Incoming' | 'Outgoing' {
  if (entry.direction === 'in' && entry.outcome === 'missed') return 'Missed';
  return entry.direction === 'in' ? 'Incoming' : 'Outgoing';
}

const OUTCOMES: Record<CallHistoryEntry['outcome'], string> = {
  answered: 'Answered',
  missed: 'Missed',
  declined: 'Declined',
  busy: 'Busy',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function outcomeLabel(entry: Pick<CallHistoryEntry, 'outcome' | 'endMessage'>): string {
  if (entry.outcome === 'failed' && entry.endMessage) return entry.endMessage;
  return OUTCOMES[entry.outcome];
}

/** What the lock on a call says, and the sentence behind it; undefined until the audio is agreed. */
export function encryptionNote(call: Pick<CallView, 'encryption'>): { label: string; explanation: string; secure: boolean } | undefined {
  if (call.encryption === 'end-to-end') {
    return {
      label: 'Encrypted end to end',
      explanation: 'Only you and the other person can hear this call: its keys were made by your two devices and signed with your identities. Nobody who carries it, relays included, can listen.',
      secure: true,
    };
  }
  if (call.encryption === 'to-phone') {
    return {
      label: 'Encrypted to the phone',
      explanation: 'This phone is not a Peerdial user, but it encrypts the call (SRTP) with keys it agreed with your device over an encrypted channel (TLS or DTLS): nobody who only watches the network can listen. The phone can, and so could a SIP server between you that set out to.',
      secure: true,
    };
  }
  if (call.encryption === 'none') {
    return {
      label: 'Not encrypted',
      explanation: 'This phone cannot encrypt calls: anyone on the network path could listen. You can refuse such calls in Settings → Calls.',
      secure: false,
    };
  }
  return undefined;
}
