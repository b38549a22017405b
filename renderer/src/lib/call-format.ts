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
}

export function qualityFigures(quality: CallQuality): QualityFigures {
  return {
    codec: quality.codec,
    loss: `${(quality.lossFraction * 100).toFixed(1)} %`,
    jitter: `${Math.round(quality.jitterMs)} ms`,
    roundTrip: quality.rttMs === undefined ? 'not measured yet' : `${Math.round(quality.rttMs)} ms`,
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
