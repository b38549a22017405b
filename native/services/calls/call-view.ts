// What a user sees of a call and of the call history; the control API serves these as they are.

/**
 * A call's life. Outgoing: calling -> ringing (the callee's phone rings) -> active -> ended.
 * Incoming: incoming -> active -> ended. `held` is orthogonal (see CallView.hold).
 */
export type CallState = 'calling' | 'ringing' | 'incoming' | 'active' | 'ended';

/** Why a call ended, for the plain message a user sees (CallView.endMessage). */
export type CallEndReason =
  | 'hangup' // we hung up
  | 'remote-hangup' // they hung up (BYE)
  | 'cancelled' // the caller gave up before the answer
  | 'declined' // 603 or our decline
  | 'busy' // 486/600
  | 'no-answer' // nobody answered in time (408/480 or our ring timeout)
  | 'unreachable' // no route, timeout, transport error, 404
  | 'not-acceptable' // no common codec (488)
  | 'transferred' // REFER accepted: the call moved on
  | 'connection-lost' // media or session timer saw the peer die
  | 'not-secured' // a Peerdial user's key was missing or wrong, or a phone cannot encrypt and the user allows no clear calls
  | 'failed'; // anything else, with the status in endMessage

export interface CallQuality {
  /** e.g. "PCMU" or "PCMA". */
  codec: string;
  packetsSent: number;
  packetsReceived: number;
  /** Fraction of the peer's packets lost, 0..1 (RFC 3550 A.3). */
  lossFraction: number;
  /** Interarrival jitter, ms (RFC 3550 A.8). */
  jitterMs: number;
  /** Round-trip time from RTCP reports, ms; undefined until a report came back. */
  rttMs?: number;
  /** Where media really comes from (symmetric RTP sends there). */
  remoteMedia?: string;
  /** With ICE (calls between Peerdial users): how the audio travels. */
  path?: MediaPathView;
  /** With ICE: datagrams from addresses that never passed a connectivity check, dropped unheard. */
  refusedMedia?: number;
  /** Encrypted calls: SRTP packets refused (failed authentication, replayed, unreadable). */
  refusedSrtp?: number;
  /** The codec's bitrate as sent over the last second or so, kbit/s (RTP payload only). */
  bitrateKbps?: number;
  /** Expected quality, 1 to 4.5, from the E-model (ITU-T G.107, simplified) on the figures above. */
  mos?: number;
}

export interface MediaPathView {
  kind: 'direct' | 'relayed';
  /** "direct", or "relayed by <member>". */
  text: string;
  /** The round trip of the path's last connectivity or consent check, ms. */
  rttMs?: number;
  /** Gathering our candidates (before our offer or answer went out), ms. */
  gatherMs?: number;
  /** From the start of the checks to the chosen path, ms. */
  checksMs?: number;
  /** Our end and theirs: candidate type and address, e.g. "srflx 203.0.113.7:40012". */
  local: string;
  remote: string;
}

export interface CallView {
  /** Stable for the call's life (our own id, not the SIP Call-ID). */
  id: string;
  direction: 'in' | 'out';
  /** The other party's URI: the AOR or URI dialled, or the caller's From. */
  peer: string;
  peerName?: string;
  state: CallState;
  /** 'local': we put them on hold; 'remote': they put us on hold; 'both'. */
  hold: 'none' | 'local' | 'remote' | 'both';
  muted: boolean;
  startedAt: number;
  answeredAt?: number;
  endedAt?: number;
  endReason?: CallEndReason;
  /** What a person reads when the call ended ("Busy", "Declined", "No answer", ...). */
  endMessage?: string;
  /** DTMF digits received from the peer during the call, in order (RFC 4733). */
  dtmfReceived: string;
  quality?: CallQuality;
  /** Outgoing calls: ms from our INVITE leaving to the callee's ringing (180/183) and to the answer (2xx). */
  setup?: { toRingingMs?: number; toAnswerMs?: number };
  /**
   * An outgoing call still ringing whose callee already sends audio (a 183 with SDP, RFC 3960):
   * a network's ringback or announcement, played instead of our own ringback tone.
   */
  earlyMedia?: boolean;
  /**
   * An outgoing call to a Peerdial user that nobody answered (offline, no answer, busy, or sent to
   * voicemail): the callee takes voice messages, so the UI offers "Leave a voice message".
   */
  voicemail?: boolean;
  /**
   * An incoming call from a stranger under the "ask" caller policy: shown as a call request,
   * without ringing or a sounding notification; the user answers or declines it as any call.
   */
  request?: boolean;
  /**
   * Once media is agreed: 'end-to-end' when the audio is SRTP keyed by the two ends alone (a
   * Peerdial user, keys signed by their identity key); 'none' when it travels in the clear (a phone
   * that cannot encrypt): the UI says "Not encrypted".
   */
  encryption?: CallEncryption;
}

/** How a call's audio is protected, as the user sees it. */
/**
 * 'to-phone': SRTP with an ordinary phone, keyed by SDES (RFC 4568) over TLS: the path cannot
 * listen, though the phone's side (its SIP server, if any) learns the keys.
 */
export type CallEncryption = 'end-to-end' | 'to-phone' | 'none';

/**
 * Why a call could not be secured. 'wrong-certificate': the callee's node presented another TLS
 * certificate than it published, or a phone's DTLS certificate was not the one its SDP named (or
 * the phone refused ours); 'dtls-failed': a DTLS-SRTP handshake with a phone did not finish.
 */
export type SecurityRefusal = 'downgrade' | 'bad-signature' | 'wrong-key' | 'malformed-key' | 'unsupported' | 'plain-not-allowed' | 'wrong-certificate' | 'dtls-failed';

/** Settings → Calls, and what encryption did since the node started. */
export interface CallSecurityView {
  /** "Allow unencrypted calls with phones": on by default; never relevant between Peerdial users. */
  allowUnencryptedPhones: boolean;
  encryptedCalls: number;
  /** Calls with phones encrypted by SDES over TLS. */
  phoneEncryptedCalls: number;
  unencryptedCalls: number;
  /** Calls refused because they could not be secured, by why. */
  refused: Record<SecurityRefusal, number>;
}

export type CallOutcome = 'answered' | 'missed' | 'declined' | 'busy' | 'failed' | 'cancelled';

export interface CallHistoryEntry {
  id: number;
  direction: 'in' | 'out';
  peer: string;
  peerName?: string;
  outcome: CallOutcome;
  startedAt: number;
  answeredAt?: number;
  endedAt: number;
  /** Talk time in whole seconds (0 when never answered). */
  durationSeconds: number;
  endMessage?: string;
  /** Missed calls from this caller folded into this entry, when more than one. */
  count?: number;
  /** The entry this one folded in: a client drops it from its list. */
  replaces?: number;
}
