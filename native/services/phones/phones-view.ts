// What the control API shows of the phones a user added and of this node's SIP routing.

export interface PhoneBindingView {
  /** The Contact the phone registered. */
  contact: string;
  /** Where its REGISTER came from (its NAT's address, when it is behind one). */
  address: string;
  protocol: 'udp' | 'tcp' | 'tls';
  userAgent?: string;
  /** Seconds until the registration runs out unless the phone renews it. */
  expiresInS: number;
}

export interface PhoneView {
  id: string;
  name: string;
  /** Whose phone it is: the user of its AOR (this node's user, or a farm user). */
  user: string;
  /** A farm user's phone: its account is copied to every server of the farm. */
  farm: boolean;
  /** The digest user name the phone authenticates with. */
  username: string;
  state: 'registered' | 'not-registered';
  bindings: PhoneBindingView[];
  createdAt: number;
}

/** What `phones.add` answers: everything to type into the phone, the password shown this once. */
export interface NewPhone {
  phone: PhoneView;
  /** The address the phone registers: the user's own AOR. */
  aor: string;
  username: string;
  password: string;
  /** The digest realm (the overlay's name). */
  realm: string;
  /** host:port of this node: the phone's registrar and outbound proxy. */
  registrar: string;
  /** The account written out for a phone's configuration (baresip's accounts line). */
  provisioning: string;
}

export interface RoutingCounters {
  /** REGISTERs that bound, refreshed or removed a phone's contacts. */
  registered: number;
  /** REGISTERs answered 401 (a challenge; a phone's first REGISTER gets one). */
  challenged: number;
  /** Wrong passwords, unknown user names, replayed or forged nonces. */
  authFailed: number;
  /** Requests refused while their source was locked out after too many failures. */
  lockedOut: number;
  /** Requests for an AOR routed on statefully (each branch counted in `branches`). */
  proxied: number;
  branches: number;
  /** Requests of a dialog we record-routed, sent on statelessly. */
  midDialogForwarded: number;
  /** Requests refused because this node is not an open relay (another domain, from a stranger). */
  refusedPolicy: number;
  /** Requests that came back to us (482), or ran out of Max-Forwards (483). */
  loops: number;
  tooManyHops: number;
  /** An AOR with no device online (480) or not in the overlay (404). */
  notFound: number;
  /** Route tokens that did not verify (403). */
  badRouteToken: number;
  /** Requests over one source's rate (503 with Retry-After). */
  rateLimited: number;
}

/** Farm mode: whether this node is a server of a farm, and what the farm did. */
export interface FarmView {
  enabled: boolean;
  /** off; looking for a farm on the LAN to join (or founding one); a member. */
  state: 'off' | 'looking' | 'member';
  /** The farm's ID (16 hex digits, from its key), while a member. */
  id?: string;
  /** The other members seen on the LAN, host:port. */
  members?: string[];
  /** Seconds that servers may still join through this member (0: closed). */
  admittingForS?: number;
  counters: { joinsAdmitted: number; joinsRefused: number; syncsSent: number; syncsReceived: number; syncsRefused: number };
}

export interface PhonesStatus {
  phones: number;
  registered: number;
  counters: RoutingCounters;
  farm: FarmView;
}
