// The one typed control API: every command a UI can give and every event it can follow.
// The renderer imports only the types from this file.

/** Stable error codes: clients branch on these, never on message text. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNKNOWN_COMMAND'
  | 'NO_IDENTITY'
  | 'IDENTITY_EXISTS'
  | 'INVALID_URI'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'LOOKUP_FAILED'
  | 'IDENTITY_LOCKED'
  | 'UNAUTHORIZED'
  /** The command does not fit the call's state (e.g. answering a call that already ended). */
  | 'INVALID_STATE'
  | 'INTERNAL';

export interface ControlErrorShape {
  code: ErrorCode;
  message: string;
}

export class ControlError extends Error implements ControlErrorShape {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
  toJSON(): ControlErrorShape {
    return { code: this.code, message: this.message };
  }
}

export interface IdentityView {
  displayName: string;
  userName: string;
  /** Ed25519 public key, base64url of the raw 32 bytes. */
  publicKey: string;
  /** A short, human-comparable fingerprint of the public key. */
  fingerprint: string;
  createdAt: number;
  /** How the private keys are kept on disk: in the clear, under the user's passphrase, or under a secret in the system keychain. */
  keyProtection: 'none' | 'passphrase' | 'os-keychain';
}

/**
 * sending -> delivered (their node has it) -> read (they opened the conversation); or
 * stored (kept in the overlay, encrypted to them, until they come back) -> delivered -> read;
 * sent: a store-and-forward server took it (202); failed. Incoming messages are `received`.
 */
export type MessageStatus = 'sending' | 'sent' | 'stored' | 'delivered' | 'read' | 'failed' | 'received';

export interface MessageView {
  id: number;
  /** The other party's SIP URI, canonical form (`sip:user@host:port`). */
  peer: string;
  direction: 'in' | 'out';
  text: string;
  status: MessageStatus;
  /** Why a message failed, in words a person understands (e.g. "404 Not Found"). */
  reason?: string;
  /** Sealed and signed end to end (between Peerdial users); false: a phone's or plain SIP address's, whose sender nobody checked. */
  encrypted: boolean;
  /** A voice message: its length, and (incoming) whether it was played to the end. Outgoing: status 'read' means heard. */
  voice?: { durationMs: number; listened: boolean };
  /** From a stranger whose conversation waits in Requests (set on message.added as it arrives). */
  request?: true;
  createdAt: number;
  updatedAt: number;
}

/** A stranger's conversation waiting in Requests: accept, delete or block it. */
export interface MessageRequestView {
  peer: string;
  lastMessage: MessageView;
  messageCount: number;
  createdAt: number;
  updatedAt: number;
  /** Messages past the request's cap (20), dropped. */
  dropped: number;
}

export interface ConversationView {
  peer: string;
  lastMessage: MessageView;
  messageCount: number;
}

export type ServiceState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export interface ServiceView {
  name: string;
  state: ServiceState;
  restarts: number;
  lastError?: string;
}

export interface NodeStatus {
  version: string;
  online: boolean;
  /** This node's own SIP contact (`sip:USER@ADDR:PORT`), or undefined before an identity exists. */
  sipContact?: string;
  sipAddress: string;
  sipPort: number;
  transports: Array<'udp' | 'tcp' | 'tls'>;
  /** The SIP over TLS port (0 before it listens). */
  sipTlsPort: number;
  /**
   * SIP over TLS: the fingerprint of this node's certificate (SHA-256, base64url, as its binding
   * records publish it), pinned certificates peers failed to present, failed handshakes, requests
   * sent on a connection a peer opened (RFC 5923), and stream connections open now.
   */
  tls: { certificate?: string; certificateMismatches: number; handshakeFailures: number; reusedConnections: number; connections: number };
  startedAt: number;
  /** This process's resident memory, V8 heap in use, and memory outside the heap (buffers), in bytes. */
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number };
  services: ServiceView[];
  sip: {
    requestsIn: number;
    responsesIn: number;
    malformedDropped: number;
    badRequestsAnswered: number;
    /** Server transactions kept now, and how many were let go early to stay within the bound. */
    serverTransactions: number;
    evictedTransactions: number;
  };
  /** The user's SIP phones and what this node did as a registrar and proxy (refusals included). */
  routing: PhonesStatus;
  /** Calls encrypted end to end, calls in the clear, and calls refused because they could not be secured. */
  callSecurity: CallSecurityView;
  /** Messages (texts, receipts, typing) sealed and opened end to end, and those refused for want of it. */
  messageSecurity: SealingCounters;
  /** Quotas and rate limits (issue 21): refusals by request class, connections, message size and senders, and who met them (absent from an older engine). */
  limits?: LimitsView;
  /** What strangers and blocked identities sent that was refused or dropped (since start). */
  strangers?: { blockedMessages: number; requestMessagesDropped: number; callsRejected: number; mailboxMessagesDropped: number };
}

/** A node of the overlay as the Network screen shows it. */
export interface OverlayNodeView {
  /** Ring ID, 40 hex digits. */
  id: string;
  host: string;
  port: number;
}

export interface OverlayRecordView {
  /** mailbox: a message kept for an offline user, or their acknowledgement (sealed; never shown); service: a node offering a service (rescue). */
  type: 'name' | 'binding' | 'mailbox' | 'service';
  /** Ring key, 40 hex digits. */
  key: string;
  user: string;
  /** For bindings: the device's contact. */
  contact?: string;
  /** Fingerprint of the owner's key (same format as IdentityView.fingerprint). */
  ownerFingerprint: string;
  seq: number;
  expires: number;
  /** True when this node is responsible for the key; false when it holds a replica. */
  primary: boolean;
}

export interface OverlayStatus {
  /** The overlay's name (the domain of AORs: sip:alice@NAME). */
  overlay: string;
  /** member: in the ring; client: attached to a member; joining: not yet in; offline: no overlay (failed to join). */
  role: 'member' | 'client' | 'joining' | 'offline';
  nodeId: string;
  /** What proves nodeId (docs/protocol.md, node references): the node key and the puzzle's nonce. */
  nodeProof?: { pk: string; nonce: number };
  /** This node's own AOR, once an identity exists. */
  aor?: string;
  /** For a client, the member it is attached to. */
  member?: OverlayNodeView;
  predecessor?: OverlayNodeView;
  successors: OverlayNodeView[];
  /**
   * Distinct finger table entries: the first finger index at which each node appears, with the
   * smoothed RTT of this node's requests to it (proximity neighbour selection keeps the nearest).
   */
  fingers: Array<{ index: number; node: OverlayNodeView; rttMs?: number }>;
  records: OverlayRecordView[];
  /** Whether this node's name claim and binding are stored in the overlay, and when they were last refreshed. */
  registration: { state: 'unregistered' | 'registering' | 'registered' | 'failed'; lastRefresh?: number; error?: string };
  /** Bootstrap peers configured (host:port). */
  bootstrap: string[];
  /**
   * Nodes this node caught hiding records (a "not found", or a forged record, while another holder
   * of the key had a valid one): kept out of its routing until `until` (ms since the epoch). docs/hostile-peers.md.
   */
  suspects: Array<{ node: OverlayNodeView; until: number; reason: string }>;
  stats: {
    lookups: number;
    lookupFailures: number;
    meanHops: number;
    requestsHandled: number;
    /** Nodes marked suspect so far (a node marked again while still suspect counts once). */
    suspects: number;
    /** Fetches whose first holders had nothing, looked up again over disjoint paths. */
    defendedFetches: number;
    /** Puts that found a replica lacking what the primary took, and wrote it there. */
    replicaRepairs: number;
    /** Fetches that found a holder without a record another holder had, and gave it the record (a second "not found" from it makes it a suspect). */
    fetchRepairs: number;
    /** The record store: records and serialized bytes held, and writes refused by reason (quotas, not responsible, bad signature...). */
    store: { records: number; bytes: number; refused: Record<string, number> };
    /** Node references refused because their ID proof failed, by reason (missing, malformed, wrong-id, too-little-work). */
    idsRefused: Record<string, number>;
  };
}

export interface LookupView {
  aor: string;
  /** Ring key of the AOR. */
  key: string;
  /** The node responsible for the key (absent when only the DHT was asked: --location dht, key pinned). */
  responsible?: OverlayNodeView;
  hops: number;
  /** How long the lookup took, in ms. */
  ms: number;
  /** The user's devices (bindings found), newest first. */
  contacts: string[];
  /** Where the contacts came from: the ring, or the user's signed location item in the BitTorrent DHT. */
  source: 'ring' | 'dht';
}

// The call types are the call service's own (services may not import control); the API
// passes them through unchanged.
export type { CallEndReason, CallHistoryEntry, CallOutcome, CallQuality, CallSecurityView, CallState, CallView } from '../services/calls/call-view.js';
import type { CallHistoryEntry, CallSecurityView, CallView } from '../services/calls/call-view.js';
import type { SealingCounters } from '../services/im/message-security-view.js';
import type { LimitedSourceView, LimitsView } from '../services/sip/limits-view.js';
export type { LimitedSourceView, LimitsView };
export type { BuddyPresence, BuddyState, BuddyView, OwnPresenceView, PresenceStatus } from '../services/presence/buddy-view.js';
import type { BuddyView, OwnPresenceView } from '../services/presence/buddy-view.js';
export type { ConfigOfferView, LanDiscoveryMethod, LanPeerView, LanView, SharedConfig } from '../services/lan/lan-view.js';
import type { LanView, SharedConfig } from '../services/lan/lan-view.js';
export type { NatBehaviourView, NatView, PortMappingView } from '../services/nat/nat-view.js';
import type { NatView } from '../services/nat/nat-view.js';
export type { RelayCandidateView, RelayServerView, RelaySettings, RelayView } from '../services/nat/relay-view.js';
import type { RelaySettings, RelayView } from '../services/nat/relay-view.js';
export type { OriginState, OriginView, DnsRoundRobinView, RescueDonation, RescuerView, RescueSample, RescueSettings, RescueSiteView, RescueView } from '../services/rescue/rescue-view.js';
import type { RescueSettings, RescueView } from '../services/rescue/rescue-view.js';
export type { FarmView, NewPhone, PhoneBindingView, PhonesStatus, PhoneView, RoutingCounters } from '../services/phones/phones-view.js';
import type { FarmView, NewPhone, PhonesStatus, PhoneView } from '../services/phones/phones-view.js';
export type { DhtView } from '../services/dht/dht-view.js';
import type { DhtView } from '../services/dht/dht-view.js';
export type { PlaybackView, RecordingView, RecordingState, VoicemailSettings, VoicemailView } from '../services/im/voicemail-view.js';
import type { PlaybackView, RecordingView, VoicemailSettings, VoicemailView } from '../services/im/voicemail-view.js';
export type { BlockedView, StrangerCalls, StrangerSettings } from '../services/strangers/strangers-view.js';
import type { BlockedView, StrangerSettings } from '../services/strangers/strangers-view.js';

/** Every command: its parameters and its result. */
export interface Commands {
  'identity.get': { params: Record<string, never>; result: IdentityView | null };
  'identity.create': { params: { displayName: string; userName: string }; result: IdentityView };
  /** An encrypted backup of the identity (its keys included), as the text of a file, for a new computer. */
  'identity.export': { params: { passphrase: string }; result: { fileName: string; backup: string } };
  /** Makes this node's identity from such a backup (a node without one). */
  'identity.import': { params: { backup: string; passphrase: string }; result: IdentityView };
  'node.status': { params: Record<string, never>; result: NodeStatus };
  'im.send': { params: { to: string; text: string }; result: MessageView };
  'im.conversations': { params: Record<string, never>; result: ConversationView[] };
  'im.history': { params: { peer: string; limit?: number; beforeId?: number }; result: MessageView[] };
  'overlay.status': { params: Record<string, never>; result: OverlayStatus };
  /** Resolves an AOR (sip:bob@OVERLAY, or just bob) through the overlay. */
  'overlay.lookup': { params: { aor: string }; result: LookupView };
  /** Joins the overlay through one more bootstrap peer (host:port), kept in settings. */
  'overlay.addBootstrap': { params: { address: string }; result: OverlayStatus };
  /** Calls an AOR (sip:bob@OVERLAY, or just bob) or any SIP URI; the echo-test address is `echo`. */
  'call.dial': { params: { to: string }; result: CallView };
  'call.answer': { params: { id: string }; result: CallView };
  /** Declines a ringing call; `toVoicemail`: the caller is offered to leave a voice message instead. */
  'call.decline': { params: { id: string; toVoicemail?: boolean }; result: CallView };
  'call.hangup': { params: { id: string }; result: CallView };
  'call.mute': { params: { id: string; muted: boolean }; result: CallView };
  /** Puts the call on hold (RFC 3264 re-INVITE with sendonly) or resumes it. */
  'call.hold': { params: { id: string; hold: boolean }; result: CallView };
  /** Sends DTMF digits (0-9, *, #, A-D) as RFC 4733 events. */
  'call.dtmf': { params: { id: string; digits: string }; result: CallView };
  /** Blind transfer (RFC 3515 REFER): the peer calls `to`, and this call ends. */
  'call.transfer': { params: { id: string; to: string }; result: CallView };
  /** Calls not yet ended. */
  'call.list': { params: Record<string, never>; result: CallView[] };
  'call.history': { params: { limit?: number }; result: CallHistoryEntry[] };
  /** Settings → Calls: "Allow unencrypted calls with phones", and what encryption did so far. */
  'call.security': { params: Record<string, never>; result: CallSecurityView };
  'call.setSecurity': { params: { allowUnencryptedPhones: boolean }; result: CallSecurityView };
  'buddy.list': { params: Record<string, never>; result: BuddyView[] };
  /** Sends a buddy request to an AOR (bob or sip:bob@OVERLAY), with an optional note. */
  'buddy.add': { params: { aor: string; note?: string }; result: BuddyView };
  'buddy.accept': { params: { aor: string }; result: BuddyView };
  'buddy.decline': { params: { aor: string }; result: BuddyView };
  /** Removes a buddy on both sides (they are told); their messages stay. */
  'buddy.remove': { params: { aor: string }; result: null };
  /** Refuses their requests, subscriptions and messages from now on. */
  'buddy.block': { params: { aor: string }; result: BuddyView };
  /** Accepts the new key a buddy now uses (after the user checked it). */
  'buddy.trustKey': { params: { aor: string }; result: BuddyView };
  /** The user compared the safety number with the buddy and marks it verified (or not). */
  'buddy.verify': { params: { aor: string; verified: boolean }; result: BuddyView };
  'presence.get': { params: Record<string, never>; result: OwnPresenceView };
  /** Sets the user's own status and note; `awayAfterMinutes` changes the idle time (0 = never). */
  'presence.set': { params: { status?: 'available' | 'away' | 'busy'; note?: string; awayAfterMinutes?: number }; result: OwnPresenceView };
  /** The UI reports the user idle (no input for a while) or back; idle sets `away` after awayAfterMinutes. */
  'presence.activity': { params: { idle: boolean }; result: OwnPresenceView };
  /** The user opened the conversation: their messages are read (the sender is told). */
  'im.markRead': { params: { peer: string }; result: null };
  /** The user is (or stopped) typing to `peer` (RFC 3994 isComposing). */
  'im.typing': { params: { peer: string; active: boolean }; result: null };
  /** LAN peers found (mDNS, multicast REGISTER), configuration offers, and what this node shares. */
  'lan.status': { params: Record<string, never>; result: LanView };
  /** "Share my settings with this LAN": offer `config` (signed, versioned), or stop offering (null). */
  'lan.share': { params: { config: SharedConfig | null }; result: LanView };
  /** Accepts an offer once: its settings apply now, and later versions from the same signer apply by themselves. */
  'lan.acceptOffer': { params: { signerFingerprint: string }; result: LanView };
  /** Stops following an offer's later versions (what was applied stays). */
  'lan.stopFollowing': { params: { signerFingerprint: string }; result: LanView };
  /** What lies between this node and the internet: public address, NAT mapping and filtering (RFC 5780), the STUN server it runs. */
  'nat.status': { params: Record<string, never>; result: NatView };
  /** Finds the public address and NAT behaviour again now (the answer comes when the tests end, a few seconds). */
  'nat.check': { params: Record<string, never>; result: NatView };
  /** "Ask my router to open a port" on or off (kept in settings; off deletes the mapping at once). */
  'nat.configure': { params: { portMapping: boolean }; result: NatView };
  /** "Relay calls for others": the member's TURN server, its caps and what it relayed; and the relays our own calls would use, best first. */
  'relay.status': { params: Record<string, never>; result: RelayView };
  /** Turns "Relay calls for others" on or off and sets its caps (each field optional; kept in settings). */
  'relay.configure': { params: Partial<RelaySettings>; result: RelayView };
  /** "Help rescue sites": what this node gives, the sites it helps, and what it served. */
  'rescue.status': { params: Record<string, never>; result: RescueView };
  /**
   * Turns "help rescue sites" on or off and sets what to give (each field optional; kept in
   * settings). Off stops new rescue work at once and ends current rescues gracefully.
   */
  'rescue.configure': { params: Partial<RescueSettings>; result: RescueView };
  /**
   * Adds a SIP phone for the user (or, on a farm server, for the farm user `user`): its credentials (the password shown this once), the AOR it
   * registers (the user's own) and the registrar to register to (this node, also its outbound proxy).
   */
  'phones.add': { params: { name: string; user?: string }; result: NewPhone };
  /** The user's phones, with their registrations. */
  'phones.list': { params: Record<string, never>; result: PhoneView[] };
  /** Removes a phone: its credentials stop working and its registrations end at once. */
  'phones.remove': { params: { id: string }; result: PhoneView[] };
  /** Farm mode: whether this node is a server of its LAN's farm, and the farm's members. */
  'farm.status': { params: Record<string, never>; result: FarmView };
  /** Turns farm mode on (joins the LAN's farm, or founds one) or off (leaves it). */
  'farm.configure': { params: { enabled: boolean }; result: FarmView };
  /** Lets other servers join the farm through this member for `minutes` (0 closes admission). */
  'farm.admit': { params: { minutes: number }; result: FarmView };
  /** Starts leaving a voice message for `to` (a Peerdial user): the tone, then the microphone, up to 2 minutes. */
  'voicemail.record': { params: { to: string }; result: RecordingView };
  /** Ends the recording and sends it (it shows in the conversation). */
  'voicemail.finish': { params: { id: string }; result: RecordingView };
  'voicemail.cancel': { params: { id: string }; result: RecordingView };
  /** Plays a voice message into the speaker; played to the end, it is marked listened and its sender told. */
  'voicemail.play': { params: { messageId: number }; result: PlaybackView };
  'voicemail.stop': { params: Record<string, never>; result: PlaybackView | null };
  /** Settings → Voicemail: on or off, ring time; and how many voice messages are unheard. */
  'voicemail.settings': { params: Record<string, never>; result: VoicemailView };
  'voicemail.configure': { params: Partial<VoicemailSettings>; result: VoicemailView };
  /** Starts recording the user's own greeting (up to 8 s, after the tone); voicemail.finish keeps and publishes it. */
  /** The BitTorrent mainline DHT: whether it is on, its endpoint, DHT nodes known, last lookup and announce. */
  'dht.status': { params: Record<string, never>; result: DhtView };
  /** "Find Peerdial users through the BitTorrent DHT" on or off (kept in settings; off closes the DHT socket at once). */
  'dht.configure': { params: { enabled: boolean }; result: DhtView };
  /** Looks the overlay up in the DHT now; the answer is the status after the lookup. */
  'dht.lookup': { params: Record<string, never>; result: DhtView };
  'voicemail.recordGreeting': { params: Record<string, never>; result: RecordingView };
  /** Plays the user's own greeting into the speaker. */
  'voicemail.playGreeting': { params: Record<string, never>; result: null };
  /** Back to the default greeting. */
  'voicemail.clearGreeting': { params: Record<string, never>; result: VoicemailView };
  /** Strangers' conversations waiting in Requests, newest first. */
  'requests.list': { params: Record<string, never>; result: MessageRequestView[] };
  /** Moves the request to the conversations (presence still needs them as a buddy). */
  'requests.accept': { params: { peer: string }; result: null };
  /** Deletes the request and its messages; a later message opens a new one. */
  'requests.delete': { params: { peer: string }; result: null };
  /** Blocks an identity: its messages are dropped unread, its calls declined, it sees no presence; its request goes. */
  'block.add': { params: { aor: string }; result: BlockedView };
  /** Lifts a block: a stranger again. */
  'block.remove': { params: { aor: string }; result: null };
  'block.list': { params: Record<string, never>; result: BlockedView[] };
  /** Calls from strangers (ring, ask, reject) and their offline messages (strangerMailbox). */
  'strangers.settings': { params: Record<string, never>; result: StrangerSettings };
  'strangers.configure': { params: Partial<StrangerSettings>; result: StrangerSettings };
}

export type CommandName = keyof Commands;
export type ParamsOf<N extends CommandName> = Commands[N]['params'];
export type ResultOf<N extends CommandName> = Commands[N]['result'];

/** Every event: its type and payload. */
export interface EventPayloads {
  'identity.created': IdentityView;
  'message.added': MessageView;
  'message.updated': MessageView;
  'service.state': ServiceView;
  'node.status': NodeStatus;
  /** The routing state or stored records changed (sent at most a few times a second). */
  'overlay.changed': OverlayStatus;
  /** A call changed state (also every second while active, with fresh quality figures). */
  'call.changed': CallView;
  /** A finished call was written to the history. */
  'call.history': CallHistoryEntry;
  /** A buddy was added, answered, changed presence or key, started or stopped typing. */
  'buddy.changed': BuddyView;
  'buddy.removed': { aor: string };
  'presence.changed': OwnPresenceView;
  /** LAN peers or offers changed (at most a few times a second). */
  'lan.changed': LanView;
  /** The NAT check started or ended, or the STUN partner changed. */
  'nat.changed': NatView;
  /** The relay started or stopped, its settings changed, or the relay finder measured again. */
  'relay.changed': RelayView;
  /** Rescue state, settings or sites changed; also once a second while rescuing (with the new sample). */
  'rescue.changed': RescueView;
  /** A phone was added or removed, registered or let its registration go. */
  'phones.changed': PhoneView[];
  /** The DHT started, looked up, announced, or found peers. */
  'dht.changed': DhtView;
  /** The voice message being left changed state, or another second was recorded. */
  'voicemail.recording': RecordingView;
  /** A voice message started, stopped, or played another second. */
  'voicemail.playback': PlaybackView;
  /** A request came, grew, or was accepted, deleted or blocked: the whole list. */
  'requests.changed': MessageRequestView[];
  'strangers.settings': StrangerSettings;
}
export type EventType = keyof EventPayloads;

export type ControlEvent = {
  [T in EventType]: {
    /** Increases by one per event within an epoch. */
    seq: number;
    /** Changes each time the engine starts; a client that sees a new epoch reloads its state. */
    epoch: string;
    type: T;
    data: EventPayloads[T];
  };
}[EventType];

/**
 * A client that resumes with `since` gets every event after it. When the events after `since`
 * are no longer kept (or the epoch changed), it gets one `reset` first and should reload.
 */
export type StreamItem = ControlEvent | { type: 'reset'; epoch: string; seq: number };

/**
 * Audio between the UI's devices and the engine: 20 ms frames of 16-bit signed mono PCM at
 * 48 kHz (960 samples, 1920 bytes, little-endian), the rate of sound cards and of Opus, so
 * wideband is not lost on the way; the engine converts to the call's codec rate.
 * Microphone frames go to the call that is active and not held; speaker frames come from it.
 */
export const AUDIO_SAMPLE_RATE = 48000;
export const AUDIO_FRAME_SAMPLES = 960;
export const AUDIO_FRAME_BYTES = AUDIO_FRAME_SAMPLES * 2;

export interface AudioEndpoint {
  /** One microphone frame from the UI (AUDIO_FRAME_BYTES). */
  pushMicrophone(frame: Int16Array): void;
  /** Speaker frames for the UI, one per 20 ms while a call plays; returns unsubscribe. */
  onSpeaker(listener: (frame: Int16Array) => void): () => void;
}

/** What both adapters expose, and what each client-side transport implements. */
export interface ControlEndpoint {
  invoke<N extends CommandName>(name: N, params: ParamsOf<N>): Promise<ResultOf<N>>;
  subscribe(since: { epoch: string; seq: number } | undefined, listener: (item: StreamItem) => void): () => void;
}

/** The envelope every adapter carries a command's outcome in. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ControlErrorShape };

/**
 * IPC channel names (Electron adapter and preload). invoke(IPC_INVOKE_CHANNEL, name, params) returns an
 * Envelope; invoke(IPC_SUBSCRIBE_CHANNEL, since, streamId) starts the window's one event stream
 * (replacing any earlier one), whose items arrive as send(IPC_EVENT_CHANNEL, streamId, item): a
 * listener keeps only the items of the stream id it chose.
 */
export const IPC_INVOKE_CHANNEL = 'peerdial:invoke';
export const IPC_SUBSCRIBE_CHANNEL = 'peerdial:subscribe';
export const IPC_EVENT_CHANNEL = 'peerdial:event';
/** Microphone frames, renderer -> engine: send(IPC_AUDIO_IN_CHANNEL, ArrayBuffer). */
export const IPC_AUDIO_IN_CHANNEL = 'peerdial:audio-in';
/** Speaker frames, engine -> renderer: send(IPC_AUDIO_OUT_CHANNEL, ArrayBuffer), after send(IPC_AUDIO_IN_CHANNEL) first attached the window. */
export const IPC_AUDIO_OUT_CHANNEL = 'peerdial:audio-out';

/**
 * WebSocket frames (browser mode). Text frames carry JSON; binary frames carry audio
 * (AUDIO_FRAME_BYTES each): from the client, microphone frames; from the server, speaker
 * frames, sent only to clients that asked with `audio`.
 */
export type WsClientFrame =
  | { kind: 'invoke'; id: number; name: CommandName; params: unknown }
  | { kind: 'subscribe'; since?: { epoch: string; seq: number } }
  | { kind: 'audio'; speaker: boolean };
export type WsServerFrame =
  | { kind: 'result'; id: number; envelope: Envelope<unknown> }
  | { kind: 'event'; item: StreamItem };

export const WS_PATH = '/control';

/** What the Electron preload exposes as `window.peerdial` (contextBridge): nothing more. */
export interface PeerdialBridge {
  invoke(name: string, params: unknown): Promise<Envelope<unknown>>;
  subscribe(since: { epoch: string; seq: number } | undefined, listener: (item: StreamItem) => void): () => void;
  /** Sends one microphone frame (AUDIO_FRAME_BYTES). */
  sendAudio(frame: ArrayBuffer): void;
  /** Speaker frames from the engine; the first call attaches this window as the speaker. */
  onAudio(listener: (frame: ArrayBuffer) => void): () => void;
}
