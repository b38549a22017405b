// The renderer's view of the control API: types only, never the engine's runtime code.
export type {
  BuddyPresence,
  BuddyState,
  BuddyView,
  CallHistoryEntry,
  CallOutcome,
  CallQuality,
  CallSecurityView,
  CallState,
  CallView,
  ConfigOfferView,
  ControlEndpoint,
  ControlEvent,
  ConversationView,
  IdentityView,
  LanDiscoveryMethod,
  LanPeerView,
  LanView,
  NatBehaviourView,
  NatView,
  FarmView,
  NewPhone,
  PhoneBindingView,
  PhonesStatus,
  PhoneView,
  RoutingCounters,
  LookupView,
  MessageStatus,
  MessageView,
  NodeStatus,
  OverlayNodeView,
  OverlayRecordView,
  OverlayStatus,
  OwnPresenceView,
  PresenceStatus,
  RelayCandidateView,
  RelayServerView,
  RelaySettings,
  RelayView,
  RescueDonation,
  RescueSample,
  RescueSettings,
  RescueSiteView,
  RescueView,
  ServiceView,
  SharedConfig,
  StreamItem,
} from '../../../native/control/api.js';
import type { ControlEndpoint } from '../../../native/control/api.js';
import type { AudioChannel } from './control-client.js';

/** What connectControl() returns: the WebSocket client also reports its connection. */
export type ControlClient = ControlEndpoint & AudioChannel & { close?(): void; onConnection?(listener: (up: boolean) => void): void };

/** Runs a load and commits its answer, then re-applies the events that arrived meanwhile. */
export type ConsistentLoad = <T>(load: () => Promise<T>, commit: (value: T) => void) => Promise<void>;
