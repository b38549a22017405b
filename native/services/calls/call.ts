// One call as the call service keeps it, and how it reads to a user: its view, the plain
// message it ended with, and the outcome the history records.
import type { CallEncryption, CallEndReason, CallHistoryEntry, CallOutcome, CallState, CallView } from './call-view.js';
import type { Dialog } from '../../proto/sip/dialog.js';
import type { AudioSource } from '../../proto/media/audio-io.js';
import type { LocalMedia, NegotiatedAudio } from '../../wire/sdp/audio-offer-answer.js';
import type { CallSrtpKeys, MediaKey } from '../../wire/sdp/media-key.js';
import type { OfferedSecurity } from './call-security.js';
import type { StoredCall } from '../../storage/repositories/call-repository.js';
import type { MediaSession } from './media-session.js';
import type { IncomingRequest, OutgoingInvite } from '../sip/index.js';
import type { TimerHandle } from '../../proto/sip/timers.js';
import type { CallSessionTimer } from './session-timers.js';
import { estimateMos } from '../../proto/media/e-model.js';

export interface Call {
  id: string;
  direction: 'in' | 'out';
  peer: string;
  peerName?: string;
  state: CallState;
  localHold: boolean;
  remoteHold: boolean;
  muted: boolean;
  startedAt: number;
  answeredAt?: number;
  /** When the call last came into focus (answered or resumed): the newest one has the devices. */
  focusedAt?: number;
  endedAt?: number;
  endReason?: CallEndReason;
  endMessage?: string;
  /** The callee takes voice messages and did not answer (CallView.voicemail). */
  voicemail?: boolean;
  /** A stranger's call under the "ask" policy (CallView.request). */
  request?: boolean;
  dtmfReceived: string;
  /** Outgoing: when the INVITE left, and how long until ringing and the answer (ms). */
  inviteSentAt?: number;
  setup?: { toRingingMs?: number; toAnswerMs?: number };
  /** The echo test's side: never shown, never in the history. */
  hidden: boolean;
  sipCallId: string;
  historyId?: number;
  media: MediaSession;
  /** What refocus last connected the call's media to: the user's devices, its early media to the speaker, or nothing. */
  audioRoute?: 'focus' | 'early' | 'off';
  local: LocalMedia;
  negotiated?: NegotiatedAudio;
  dialog?: Dialog;
  /** Our INVITE, until its final response (outgoing calls). */
  invite?: OutgoingInvite;
  /** Where our INVITE went: the flow its 2xx (every retransmission too) is ACKed on when the Contact is a private address. */
  inviteFlow?: OutgoingInvite['remote'];
  /** The INVITE we have not answered yet (incoming calls). */
  incoming?: IncomingRequest;
  /** The answer to the caller's offer, sent in our 200 (undefined for an offer-less INVITE). */
  pendingAnswer?: NegotiatedAudio & { sdp: string };
  /** RFC 3261 15: as the callee, no BYE until the ACK for our 2xx came (or never will). */
  awaitingAck: boolean;
  byeAfterAck: boolean;
  /** A re-INVITE of ours is in progress (RFC 3261 14.1: one at a time; 491 for theirs). */
  reinviting: boolean;
  /** The --play WAV for this call, started when the call is answered. */
  playSource?: AudioSource;
  timers: TimerHandle[];
  /** Told once when the call leaves the ringing phase: answered, or the SIP status it ended with. */
  settled: Array<(status: number) => void>;
  /** Outgoing to a Peerdial user: our signed key, and whose signature the answer must carry. */
  offeredSecurity?: OfferedSecurity;
  /** Incoming encrypted call: the SRTP keys, set on the media when it starts. */
  srtpKeys?: CallSrtpKeys;
  /** A phone's call keyed by SDES, and whether those keys travelled over TLS. */
  sdes?: { overTls: boolean };
  /**
   * With a phone, DTLS-SRTP offered or taken (RFC 5764): the keys come from a handshake on the
   * media path and never cross the signalling.
   */
  dtls?: boolean;
  /** A 183 with SDP set up media before the answer (RFC 3960): what it negotiated. */
  earlyMedia?: NegotiatedAudio;
  /** RFC 4028: the agreed session interval and who refreshes, once the call is set up with one. */
  sessionTimer?: CallSessionTimer;
  /** The phone refused our DTLS-SRTP offer (488), and was offered plain audio instead. */
  offeredPlainAfterDtls?: boolean;
  /** The other side's signed key agreed at the start: every later offer or answer in the dialog carries it unchanged. */
  agreedPeerKey?: MediaKey;
}

/** What the lock says: SDES keys that crossed the network in the clear protect against no one who saw the signalling. */
export function encryptionOf(call: Call): CallEncryption {
  if (call.dtls) return 'to-phone';
  if (!call.media.encrypted && !call.srtpKeys) return 'none';
  if (call.sdes) return call.sdes.overTls ? 'to-phone' : 'none';
  return 'end-to-end';
}

/** The reason phrase of our 488 when a call could not be secured, which tells the caller why (beside the Warning). */
export const NOT_SECURED_REASON = 'Not Acceptable Here (call could not be secured)';

export function callView(call: Call): CallView {
  const hold = call.localHold && call.remoteHold ? 'both' : call.localHold ? 'local' : call.remoteHold ? 'remote' : 'none';
  const view: CallView = {
    id: call.id,
    direction: call.direction,
    peer: call.peer,
    state: call.state,
    hold,
    muted: call.muted,
    startedAt: call.startedAt,
    dtmfReceived: call.dtmfReceived,
  };
  if (call.peerName) view.peerName = call.peerName;
  if (call.answeredAt) view.answeredAt = call.answeredAt;
  if (call.endedAt) view.endedAt = call.endedAt;
  if (call.endReason) view.endReason = call.endReason;
  if (call.voicemail) view.voicemail = true;
  if (call.request) view.request = true;
  if (call.endMessage) view.endMessage = call.endMessage;
  if (call.setup) view.setup = { ...call.setup };
  // Known once the offer is checked: an incoming call shows it while it rings.
  if (call.negotiated || call.pendingAnswer) view.encryption = encryptionOf(call);
  if (call.earlyMedia && call.state === 'ringing') view.earlyMedia = true;
  if (call.negotiated && call.answeredAt) {
    const s = call.media.stats();
    view.quality = {
      codec: call.negotiated.codec.name,
      packetsSent: s.packetsSent,
      packetsReceived: s.packetsReceived,
      lossFraction: s.lossFraction,
      jitterMs: Math.round(s.jitterMs * 10) / 10,
      ...(s.rttMs !== undefined ? { rttMs: Math.round(s.rttMs * 10) / 10 } : {}),
      ...(s.remoteMedia ? { remoteMedia: s.remoteMedia } : {}),
      ...(s.path ? { path: s.path } : {}),
      ...(s.refusedMedia !== undefined ? { refusedMedia: s.refusedMedia } : {}),
      ...(s.bitrateKbps !== undefined ? { bitrateKbps: Math.round(s.bitrateKbps * 10) / 10 } : {}),
      mos: estimateMos({ codec: call.negotiated.codec.name, lossFraction: s.lossFraction, jitterMs: s.jitterMs, rttMs: s.rttMs }),
      ...(s.srtp ? { refusedSrtp: s.srtp.authFailed + s.srtp.replayed + s.srtp.malformed } : {}),
    };
  }
  return view;
}

/** What a final response to our INVITE means to the caller (RFC 3261 21). */
export function reasonForStatus(status: number): CallEndReason {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'declined';
  if (status === 487) return 'cancelled';
  if (status === 408 || status === 480) return 'no-answer';
  if (status === 404 || status === 410 || status === 484 || status === 604) return 'unreachable';
  if (status === 488 || status === 606 || status === 415) return 'not-acceptable';
  return 'failed';
}

export function endMessageFor(call: Pick<Call, 'direction' | 'peer' | 'peerName'>, reason: CallEndReason, detail?: string): string {
  // Without a display name, the user part reads better than a whole URI.
  const who = call.peerName ?? /^sips?:([^@;]+)@/.exec(call.peer)?.[1] ?? call.peer;
  switch (reason) {
    case 'hangup':
      return 'Call ended';
    case 'remote-hangup':
      return `${who} hung up`;
    case 'cancelled':
      return call.direction === 'in' ? `Missed call from ${who}` : 'Call cancelled';
    case 'declined':
      return call.direction === 'in' ? 'You declined the call' : `${who} declined the call`;
    case 'busy':
      return `${who} is busy`;
    case 'no-answer':
      return call.direction === 'in' ? `Missed call from ${who}` : `${who} did not answer`;
    case 'unreachable':
      return `Could not reach ${who}${detail ? ` (${detail})` : ''}`;
    case 'not-acceptable':
      return `${who}'s phone cannot use the audio formats Peerdial offers${detail ? ` (${detail})` : ''}`;
    case 'transferred':
      return `Transferred to ${detail ?? 'another number'}`;
    case 'connection-lost':
      return `The connection to ${who} was lost${detail ? ` (${detail})` : ''}`;
    case 'failed':
      return `The call failed${detail ? ` (${detail})` : ''}`;
    case 'not-secured':
      return `The call with ${who} could not be secured${detail ? ` (${detail})` : ''}`;
  }
}

/** The history's one-word outcome for a call that ended with `reason`. */
export function outcomeFor(call: Pick<Call, 'direction' | 'answeredAt'>, reason: CallEndReason): CallOutcome {
  if (call.answeredAt) return 'answered';
  if (call.direction === 'in') return reason === 'declined' ? 'declined' : reason === 'failed' ? 'failed' : 'missed';
  if (reason === 'busy' || reason === 'declined' || reason === 'cancelled') return reason;
  return 'failed';
}

export function historyEntry(stored: StoredCall): CallHistoryEntry {
  const durationSeconds = stored.answeredAt ? Math.max(0, Math.round((stored.endedAt - stored.answeredAt) / 1000)) : 0;
  return { ...stored, durationSeconds };
}
