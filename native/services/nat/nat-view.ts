// What the Network screen and `nat.status` show of the NAT service: plain data.
export interface NatBehaviourView {
  udp: boolean;
  mapping?: 'no-nat' | 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
  filtering?: 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent';
  /** host:port of the discovery socket as the member saw it. */
  mapped?: string;
  /** The member that ran the tests with us. */
  server: string;
  rttMs?: number;
  /** Why a test could not be run. */
  notes: string[];
  /** The whole finding in one or two sentences. */
  description: string;
}

/** A client's attachment to the member that carries its signalling. */
export interface AttachmentView {
  state: 'detached' | 'attaching' | 'attached';
  /** host:port of the member. */
  member?: string;
  /** How the flow to the member runs: TCP where the network drops UDP. */
  transport: 'udp' | 'tcp';
  rttMs?: number;
  /** The flow URI others reach us at. */
  contact?: string;
  /** Why the last attempt failed, or why the member changed. */
  reason?: string;
  since?: number;
  keepaliveMs: number;
}

/** "Ask my router to open a port": what the router granted, or why nothing. */
export interface PortMappingView {
  /** The setting "Ask my router to open a port" (on by default). */
  enabled: boolean;
  /** waiting: for the NAT check; off: the setting is off; not-needed: no NAT here (or bound to loopback); unavailable: no router would. */
  state: 'waiting' | 'off' | 'not-needed' | 'trying' | 'mapped' | 'unavailable';
  protocol?: 'pcp' | 'nat-pmp' | 'upnp';
  /** The router that made it. */
  gateway?: string;
  /** host:port the router forwards to our SIP port. */
  external?: string;
  transports?: ('udp' | 'tcp')[];
  lifetimeS?: number;
  /** When the lease ends unless renewed (it is renewed at half its life), ms since the epoch. */
  expiresAt?: number;
  /** Why there is no mapping, or why the one there is does not make us reachable. */
  note?: string;
  counters: Record<string, number>;
}

/** Whether others reach our SIP socket unasked: members' probes from addresses we never sent to. */
export interface ReachabilityView {
  state: 'unknown' | 'checking' | 'reachable' | 'unreachable';
  /** host:port probed: our SIP socket as members see it. */
  address?: string;
  probes: {
    /** The member asked. */
    member: string;
    /** Where the probe came (or would have come) from. */
    from?: string;
    /** arrived / silent say something; inconclusive and cannot-probe do not count. */
    result: 'arrived' | 'silent' | 'inconclusive' | 'cannot-probe';
    note?: string;
  }[];
  checkedAt?: number;
  /** The finding in words. */
  description?: string;
}

export interface NatView {
  checking: boolean;
  /** When the last check ended (ms since the epoch). */
  lastCheck?: number;
  /** host:port of our SIP socket as members see it. */
  publicAddress?: string;
  portMapping: PortMappingView;
  reachability: ReachabilityView;
  behaviour?: NatBehaviourView;
  /** The STUN server this node runs on its SIP port. */
  stunServer: {
    port: number;
    alternatePort?: number;
    /** RFC 5780 OTHER-ADDRESS, when a second address or a partner answers for us. */
    otherAddress?: string;
    /** The member that answers requests for another address on our behalf. */
    partner?: string;
  };
  /** member: others reach this node directly and it carries clients; client: a member carries it. */
  role: 'member' | 'client';
  /** Why this role, in words. */
  roleReason: string;
  /** A client's member, its round trip and the contact others reach us at. */
  attachment?: AttachmentView;
  /** A member: the clients whose signalling it carries. */
  carrying?: { clients: number; max: number };
  counters: Record<string, number>;
}
