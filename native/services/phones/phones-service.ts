// The phones domain: desk phones a user adds (digest credentials kept as H(A1)), the registrar
// they register to, and the proxy that makes every node a SIP server for its overlay's domain
// (RFC 3261 16): a request for sip:bob@OVERLAY that reaches us is routed to bob's devices by
// overlay lookup, a request for our own user rings the app and every registered phone at once,
// and our phones' requests go wherever they are addressed. Strangers get no route to other domains.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import { flowBehindNat } from '../../proto/sip/dialog.js';
import { SourceRateLimit } from '../../proto/sip/source-rate-limit.js';
import type { Binding } from '../../proto/sip/registrar-bindings.js';
import { FARM_CONTENT_TYPE, type FarmAccount, type FarmRemoval, type FarmSync } from '../../wire/farm/farm-message.js';
import { PHONE_CONTACT_PARAM, type OverlayRecord } from '../../wire/overlay/record.js';
import { digestHa1 } from '../../wire/sip/digest.js';
import { attestPhoneRequest, PHONE_ATTESTATION_HEADER, plainOfferForPhone } from '../../wire/sip/phone-attestation.js';
import { hostForUri, overlayAorOf, parseSipUri, type SipUri } from '../../wire/sip/uri.js';
import type { PhoneRepository, StoredPhone } from '../../storage/repositories/phone-repository.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import type { Remote } from '../../transport/sip-sockets.js';
import { UserError } from '../errors.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';
import { DialogRoutes, routesOf, uriText, ROUTE_TOKEN_PREFIX, type RouteEntry } from './dialog-routes.js';
import { ForkingProxy, PROXY_BRANCH_PREFIX, type ProxyTarget } from './forking-proxy.js';
import { FarmService, type FarmAccounts, type FarmServiceDeps } from './farm-service.js';
import { PhoneRegistrar, type RegisteredPhone } from './phone-registrar.js';
import { MessageWaiting } from './message-waiting.js';
import { realTimers } from '../../transport/clock.js';
import type { NewPhone, PhonesStatus, PhoneView, RoutingCounters } from './phones-view.js';

/** What the phones domain needs of the overlay: its name, the devices of an AOR, and (for a farm) a way to publish records. */
export interface PhonesOverlay {
  readonly overlay: string;
  readonly self?: { id: string };
  lookupAor(aor: string): Promise<{ contacts: string[]; owner?: string }>;
  putRecords(records: OverlayRecord[]): Promise<{ rejected: Array<{ reason: string }> }>;
  /** The proof of work a name claim must carry (undefined: the overlay asks none). */
  claimWork(owner: string, user: string): Promise<number | undefined>;
}

export interface PhonesServiceDeps {
  stack: SipStack;
  phones: PhoneRepository;
  identity: { readonly current?: { userName: string }; readonly signingKey?: Buffer };
  overlay: PhonesOverlay;
  log: Logger;
  now?: () => number;
  /** The phones or their registrations changed (the UI's phones.changed; the overlay publishes the bindings again). */
  onChange(): void;
  /** A request was refused: the counters node.status shows changed (may come often; the caller throttles). */
  onRefused?(): void;
  /** Requests a second one address may send the registrar and the proxy (0: no limit; default 100). */
  rateLimit?: number;
  /** Where the Record-Route secret and farm mode's settings are kept. */
  settings: SettingsRepository;
  /** Farm mode: the LAN it needs (see farm-service.ts). */
  farm: Pick<FarmServiceDeps, 'lanPeers' | 'onPeersChanged' | 'announce' | 'publishEveryMs' | 'foundAfterMs'>;
  /** --farm given (true), or the stored setting decides (undefined). */
  farmWanted?: boolean;
}

const DEFAULT_RATE_LIMIT = 100;
/** How soon a refreshed registration (same contacts) is written. */
const REFRESH_WRITE_MS = 1_000;

const PHONE_PARAM = PHONE_CONTACT_PARAM;
const PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
const ROUTE_SECRET_KEY = 'phones.routeSecret';
/** A removed farm account is remembered this long, so a server that has not heard does not bring it back. */
const FARM_REMOVAL_KEPT_MS = 30 * 24 * 3600_000;

export class PhonesService implements FarmAccounts {
  private readonly entries = new Map<string, RegisteredPhone>();
  private removals = new Map<string, number>();
  readonly farm: FarmService;
  private readonly now: () => number;
  readonly counters: RoutingCounters = {
    registered: 0,
    challenged: 0,
    authFailed: 0,
    lockedOut: 0,
    proxied: 0,
    branches: 0,
    midDialogForwarded: 0,
    refusedPolicy: 0,
    loops: 0,
    tooManyHops: 0,
    notFound: 0,
    badRouteToken: 0,
    rateLimited: 0,
  };
  private readonly rateLimit?: SourceRateLimit;
  private readonly dirty = new Set<string>();
  private flushTimer?: NodeJS.Timeout;
  readonly registrar: PhoneRegistrar;
  /** RFC 3842: the phones' message-waiting lamps. */
  readonly messageWaitingNotifier: MessageWaiting;
  private readonly routes: DialogRoutes;
  private readonly proxy: ForkingProxy;

  constructor(private readonly deps: PhonesServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.routes = new DialogRoutes({ stack: deps.stack, counters: this.counters });
    this.proxy = new ForkingProxy({ stack: deps.stack, counters: this.counters });
    const perSecond = deps.rateLimit ?? DEFAULT_RATE_LIMIT;
    if (perSecond > 0) this.rateLimit = new SourceRateLimit({ perSecond });
    this.registrar = new PhoneRegistrar({
      log: deps.log,
      now: this.now,
      counters: this.counters,
      serves: (user) => this.serves(user),
      ownerOf: (phone) => this.ownerOf(phone),
      realm: () => deps.overlay.overlay,
      byUsername: (username) => [...this.entries.values()].find((e) => e.phone.username === username),
      setBindings: (id, bindings) => this.setBindings(id, bindings),
      onRefused: () => deps.onRefused?.(),
      holdFlow: (remote, ms) => deps.stack.holdFlow(remote, ms),
    });
    this.messageWaitingNotifier = new MessageWaiting({
      stack: deps.stack,
      timers: realTimers,
      log: deps.log.child('mwi'),
      overlay: deps.overlay.overlay,
      ownUser: () => deps.identity.current?.userName,
      ownContact: () => {
        const user = deps.identity.current?.userName;
        return user ? deps.stack.contactFor(user) : undefined;
      },
      authenticate: (incoming) => this.registrar.authenticate(incoming, 'www'),
      ownerOf: (phone) => this.ownerOf(phone.phone),
    });
    this.farm = new FarmService({ ...deps.farm, settings: deps.settings, stack: deps.stack, accounts: this, overlay: deps.overlay, log: deps.log.child('farm'), now: this.now, onChange: () => deps.onChange() });
  }

  async start(): Promise<void> {
    const now = this.now();
    await this.deps.phones.pruneExpired(now);
    for (const phone of await this.deps.phones.list()) this.entries.set(phone.id, { phone, bindings: [] });
    for (const { phoneId, binding } of await this.deps.phones.allBindings(now)) this.entries.get(phoneId)?.bindings.push(binding);
    await this.deps.phones.pruneFarmRemovals(now - FARM_REMOVAL_KEPT_MS);
    this.removals = new Map((await this.deps.phones.farmRemovals()).map((r) => [r.id, r.removedAt]));
    // The Record-Route secret outlives the process: a call through a phone keeps its route across a restart of this node.
    const secret = await this.deps.settings.get<string>(ROUTE_SECRET_KEY);
    if (secret) this.routes.useSecret(Buffer.from(secret, 'base64url'));
    else await this.deps.settings.set(ROUTE_SECRET_KEY, this.newRouteSecret());
    this.deps.stack.addForwarder(this.routes);
    this.deps.stack.setRouter((incoming) => this.route(incoming));
    await this.farm.start(this.deps.farmWanted);
  }

  private newRouteSecret(): string {
    const secret = randomBytes(32);
    this.routes.useSecret(secret);
    return secret.toString('base64url');
  }

  /** A phone subscribes to its user's voice messages (RFC 3842). */
  onMessageSummarySubscribe(incoming: IncomingRequest): void {
    if (this.overRate(incoming)) return;
    this.messageWaitingNotifier.onSubscribe(incoming);
  }

  /** The user's voice messages changed: the phones' lamps follow. */
  messageWaiting(counts: { unheard: number; heard: number }): void {
    void this.messageWaitingNotifier.update(counts);
  }

  async stop(): Promise<void> {
    await this.messageWaitingNotifier.stop();
    this.farm.stop();
    await this.flush();
  }

  /** True when a REGISTER is a phone's (for an AOR of the overlay, or carrying credentials) rather than a Peerdial client's. */
  isPhoneRegister(request: IncomingRequest['request']): boolean {
    const to = parseSipUri(request.headers.to?.uri ?? '');
    return to?.host.toLowerCase() === this.deps.overlay.overlay.toLowerCase() || request.headers.authorization !== undefined;
  }

  onRegister(incoming: IncomingRequest): Promise<void> {
    if (this.overRate(incoming)) return Promise.resolve();
    return this.registrar.onRegister(incoming);
  }

  /** RFC 3261 21.5.4: a source over its rate gets 503 with Retry-After, and is counted. */
  private overRate(incoming: IncomingRequest): boolean {
    if (!this.rateLimit || this.rateLimit.allow(incoming.remote.address, this.now())) return false;
    this.counters.rateLimited++;
    this.deps.onRefused?.();
    incoming.respond(503, { reason: 'Service Unavailable (too many requests from your address)', headers: { 'retry-after': 2 } });
    return true;
  }

  // ---- the user's phones ----

  /**
   * A phone for this node's user, or (`forUser`, on a farm server) for a farm user, whose account
   * every server of the farm then holds.
   */
  async add(name: string, forUser?: string): Promise<NewPhone> {
    const own = this.deps.identity.current?.userName;
    const farmUser = forUser !== undefined && forUser.trim().toLowerCase() !== own ? forUser.trim().toLowerCase() : undefined;
    if (farmUser !== undefined) {
      if (!this.farm.member) throw new UserError('INVALID_STATE', 'Phones for other users need farm mode: start the node with --farm (or turn farm mode on under Phones).');
      if (!USER_NAME.test(farmUser)) throw new UserError('INVALID_ARGUMENT', 'A user name is 1 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit.');
    } else if (!own) {
      throw new UserError('NO_IDENTITY', this.farm.member ? 'Say which farm user the phone is for, or create your identity first.' : 'Create your identity before adding a phone.');
    }
    const user = (farmUser ?? own)!;
    const label = name.trim();
    if (!label || label.length > 40) throw new UserError('INVALID_ARGUMENT', 'Give the phone a name of 1 to 40 characters, e.g. "Desk phone".');
    if (farmUser !== undefined && !this.isFarmUser(farmUser)) await this.farm.checkUserFree(farmUser);
    const realm = this.deps.overlay.overlay;
    const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 16) || 'phone';
    let username = `${user}-${slug}`;
    for (let n = 2; [...this.entries.values()].some((e) => e.phone.username === username); n++) username = `${user}-${slug}-${n}`;
    const password = Array.from({ length: 16 }, () => PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)]).join('');
    const phone: StoredPhone = {
      id: randomBytes(6).toString('hex'),
      name: label,
      username,
      ha1: { md5: digestHa1('MD5', username, realm, password), sha256: digestHa1('SHA-256', username, realm, password), sha512_256: digestHa1('SHA-512-256', username, realm, password) },
      createdAt: this.now(),
      ...(farmUser !== undefined ? { farmUser, updatedAt: this.now() } : {}),
    };
    await this.deps.phones.add(phone);
    this.entries.set(phone.id, { phone, bindings: [] });
    this.deps.log.info('phone added', { name: label, username, ...(farmUser !== undefined ? { farmUser } : {}) });
    this.deps.onChange();
    if (farmUser !== undefined) this.farm.changed();
    const aor = `sip:${user}@${realm}`;
    const registrar = this.registrarAddress();
    return {
      phone: this.viewOf(this.entries.get(phone.id)!),
      aor,
      username,
      password,
      realm,
      registrar,
      provisioning: `<${aor}>;auth_user=${username};auth_pass=${password};outbound="sip:${registrar}";regint=600`,
    };
  }

  list(): PhoneView[] {
    return [...this.entries.values()].sort((a, b) => a.phone.createdAt - b.phone.createdAt).map((e) => this.viewOf(e));
  }

  /** Removes a phone: its credentials stop working and its registrations end at once. */
  async remove(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) throw new UserError('NOT_FOUND', `No phone ${id}.`);
    if (entry.phone.farmUser !== undefined) {
      const at = this.now();
      await this.deps.phones.removeFarmAccount(id, at);
      this.removals.set(id, at);
    } else {
      await this.deps.phones.remove(id);
    }
    this.entries.delete(id);
    this.dirty.delete(id);
    this.deps.log.info('phone removed', { name: entry.phone.name, username: entry.phone.username });
    this.deps.onChange();
    if (entry.phone.farmUser !== undefined) this.farm.changed();
  }

  status(): PhonesStatus {
    return { phones: this.entries.size, registered: this.registeredCount(), counters: { ...this.counters }, farm: this.farm.view() };
  }

  /** The contacts to publish in the overlay for the user's registered phones: each names this node and the phone. */
  overlayBindings(contactForUser: string): Array<{ slot: string; contact: string }> {
    const now = this.now();
    return [...this.entries.values()]
      .filter((e) => e.phone.farmUser === undefined && e.bindings.some((b) => b.expiresAt > now))
      .map((e) => ({ slot: phoneSlot(e.phone.id), contact: `${contactForUser};${PHONE_PARAM}=${e.phone.id}` }));
  }

  // ---- the farm's accounts (FarmAccounts)

  farmAccounts(): FarmAccount[] {
    return [...this.entries.values()]
      .filter((e) => e.phone.farmUser !== undefined)
      .map(({ phone }) => ({ id: phone.id, user: phone.farmUser!, name: phone.name, username: phone.username, ha1: { ...phone.ha1 }, createdAt: phone.createdAt, updatedAt: phone.updatedAt ?? phone.createdAt }));
  }

  farmRemovals(): FarmRemoval[] {
    return [...this.removals].map(([id, removedAt]) => ({ id, removedAt })).sort((a, b) => a.removedAt - b.removedAt);
  }

  farmBindings(): Array<{ user: string; phoneId: string; slot: string }> {
    const now = this.now();
    return [...this.entries.values()]
      .filter((e) => e.phone.farmUser !== undefined && e.bindings.some((b) => b.expiresAt > now))
      .map((e) => ({ user: e.phone.farmUser!, phoneId: e.phone.id, slot: phoneSlot(e.phone.id) }));
  }

  /** Another server's accounts: a newer copy replaces ours, a removal newer than the account removes it. */
  async mergeFarmSync(sync: FarmSync): Promise<boolean> {
    let changed = false;
    for (const removal of sync.removed) {
      const entry = this.entries.get(removal.id);
      if ((this.removals.get(removal.id) ?? -1) >= removal.removedAt) continue;
      if (entry && (entry.phone.farmUser === undefined || (entry.phone.updatedAt ?? 0) > removal.removedAt)) continue;
      await this.deps.phones.removeFarmAccount(removal.id, removal.removedAt);
      this.removals.set(removal.id, removal.removedAt);
      if (entry) {
        this.entries.delete(removal.id);
        this.dirty.delete(removal.id);
        this.deps.log.info('farm phone removed by another server', { username: entry.phone.username });
        changed = true;
      }
    }
    for (const account of sync.accounts) {
      const entry = this.entries.get(account.id);
      if (entry && (entry.phone.farmUser === undefined || (entry.phone.updatedAt ?? 0) >= account.updatedAt)) continue;
      if ((this.removals.get(account.id) ?? -1) >= account.updatedAt) continue;
      if ([...this.entries.values()].some((e) => e.phone.username === account.username && e.phone.id !== account.id)) {
        this.deps.log.warn('a farm account was not taken: its user name is in use here', { username: account.username });
        continue;
      }
      const phone = { id: account.id, name: account.name, username: account.username, ha1: account.ha1, createdAt: account.createdAt, farmUser: account.user, updatedAt: account.updatedAt };
      await this.deps.phones.putFarmAccount(phone);
      this.entries.set(account.id, { phone, bindings: entry?.bindings ?? [] });
      if (!entry) this.deps.log.info('farm phone account received', { username: account.username, user: account.user });
      changed = true;
    }
    return changed;
  }

  async forgetFarmAccounts(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (e.phone.farmUser === undefined) continue;
      await this.deps.phones.remove(e.phone.id);
      this.entries.delete(e.phone.id);
    }
    this.removals.clear();
  }

  /** A farm user whose accounts this server holds (only while it is a farm member). */
  private isFarmUser(user: string): boolean {
    if (!this.farm.member) return false;
    for (const e of this.entries.values()) if (e.phone.farmUser === user) return true;
    return false;
  }

  /** Phones register here for this node's user and, on a farm server, the farm's users. */
  private serves(user: string): boolean {
    return user === this.deps.identity.current?.userName || this.isFarmUser(user);
  }

  private ownerOf(phone: StoredPhone): string | undefined {
    return phone.farmUser ?? this.deps.identity.current?.userName;
  }

  // ---- routing (RFC 3261 16) ----

  /** The stack's router: true when we proxy the request (the UA handlers never see it). */
  route(incoming: IncomingRequest): boolean {
    const { request, remote } = incoming;
    if (request.method !== 'INVITE' && request.method !== 'MESSAGE') return false;
    if (request.headers.to?.params.tag !== undefined) return false;
    if (request.method === 'MESSAGE' && contentTypeOf(request) === FARM_CONTENT_TYPE) {
      if (!this.overRate(incoming)) this.farm.onMessage(incoming);
      return true;
    }
    // A branch of our own fork, to the app: the UA takes it.
    if (String(request.headers.via[0]?.params.branch ?? '').startsWith(PROXY_BRANCH_PREFIX) && this.isUs(request.headers.via[0].host, request.headers.via[0].port)) return false;
    // RFC 3261 16.4: a Route naming us (a phone's outbound proxy) comes off.
    const routes = routesOf(request);
    const first = routes[0] && parseSipUri(uriText(routes[0].uri));
    if (first && this.isUs(first.host, first.port) && !first.user?.startsWith(ROUTE_TOKEN_PREFIX)) request.headers.route = routes.slice(1);
    if (routesOf(request).length) return false;
    const uri = parseSipUri(request.uri);
    const user = this.deps.identity.current?.userName;
    if (!uri) return false;
    const fromPhone = this.phoneFlow(remote);
    const overlay = this.deps.overlay.overlay.toLowerCase();
    const forOverlay = uri.host.toLowerCase() === overlay;
    const forUs = this.isUs(uri.host, uri.port);
    const ownUser = !!user && uri.user?.toLowerCase() === user;
    const farmUser = !ownUser && !!uri.user && this.isFarmUser(uri.user.toLowerCase()) ? uri.user.toLowerCase() : undefined;
    if (forUs && farmUser) {
      // A farm user's phones registered here (the overlay lookup of sip:USER@OVERLAY led to us).
      if (request.method === 'MESSAGE' && !isText(request)) return false;
      if (this.overRate(incoming) || !this.checkHops(incoming)) return true;
      const phoneId = typeof uri.params[PHONE_PARAM] === 'string' ? (uri.params[PHONE_PARAM] as string) : undefined;
      this.fork(incoming, this.phoneTargets(farmUser, phoneId).filter((t) => !sameFlow(t.remote, fromPhone)), fromPhone);
      return true;
    }
    if (forUs || (forOverlay && ownUser)) {
      if (!ownUser) return false;
      // Receipts, buddy requests and the like are the app's alone.
      if (request.method === 'MESSAGE' && !isText(request)) return false;
      const phoneId = forUs && typeof uri.params[PHONE_PARAM] === 'string' ? (uri.params[PHONE_PARAM] as string) : undefined;
      if (!phoneId && !fromPhone && !this.hasLivePhones()) return false;
      if (this.overRate(incoming) || !this.checkHops(incoming)) return true;
      // A phone calling its own user rings the app and the user's other phones, not itself.
      const others = this.phoneTargets(user!, phoneId).filter((t) => !sameFlow(t.remote, fromPhone));
      const targets = phoneId ? others : [this.localTarget(user!), ...others];
      this.fork(incoming, targets, fromPhone);
      return true;
    }
    if (forOverlay) {
      if (this.overRate(incoming) || !this.checkHops(incoming)) return true;
      if (request.headers.via.some((v) => String(v.params.branch ?? '').startsWith(PROXY_BRANCH_PREFIX) && this.isUs(v.host, v.port))) {
        this.counters.loops++;
        incoming.respond(482, { reason: 'Loop Detected' });
        return true;
      }
      this.routeToAor(incoming, uri, fromPhone).catch((error: Error) => this.failed(incoming, error));
      return true;
    }
    // Another host. Our phones may call anywhere; a stranger may not use us as a relay.
    if (fromPhone) {
      if (this.overRate(incoming) || !this.checkHops(incoming)) return true;
      this.routeToHost(incoming, uri, fromPhone).catch((error: Error) => this.failed(incoming, error));
      return true;
    }
    if (isIP(uri.host.replace(/^\[(.*)\]$/, '$1'))) return false;
    this.counters.refusedPolicy++;
    this.deps.onRefused?.();
    incoming.respond(403, { reason: `Forbidden (this node routes only to users of ${this.deps.overlay.overlay} for others)` });
    return true;
  }

  private async routeToAor(incoming: IncomingRequest, uri: SipUri, fromPhone: Remote | undefined): Promise<void> {
    let contacts: string[];
    try {
      contacts = (await this.deps.overlay.lookupAor(`sip:${uri.user}@${uri.host}`)).contacts;
    } catch (error) {
      this.counters.notFound++;
      incoming.respond(404, { reason: `Not Found (${(error as Error).message})` });
      return;
    }
    const targets: ProxyTarget[] = [];
    for (const contact of collapsePhoneContacts(contacts)) {
      const target = parseSipUri(contact);
      if (!target) continue;
      // A farm user's phone registered here: straight to it (a request we sent ourselves would look like our own fork's branch).
      const farmUser = target.user?.toLowerCase();
      if (this.isUs(target.host, target.port) && typeof target.params[PHONE_PARAM] === 'string' && farmUser && this.isFarmUser(farmUser)) {
        targets.push(...this.phoneTargets(farmUser, target.params[PHONE_PARAM] as string).filter((t) => !sameFlow(t.remote, fromPhone)));
        continue;
      }
      const remote = await this.deps.stack.resolve(target).catch(() => undefined);
      if (remote) targets.push({ uri: contact, remote, recordRoute: [] });
    }
    if (!targets.length) this.counters.notFound++;
    this.fork(incoming, targets, fromPhone);
  }

  /**
   * Where DNS says (RFC 3263), one target after another. Only for the user's phones, and only
   * with their credentials (407, RFC 3261 22.3): a request from a phone's address alone could be
   * forged over UDP, and a call to another domain may cost someone money.
   */
  private async routeToHost(incoming: IncomingRequest, uri: SipUri, fromPhone: Remote): Promise<void> {
    if (!this.registrar.authenticate(incoming, 'proxy')) return;
    let remotes: Remote[];
    try {
      remotes = await this.deps.stack.resolveAll(uri);
    } catch (error) {
      this.counters.notFound++;
      incoming.respond(604, { reason: `Does Not Exist Anywhere (${uri.host}: ${(error as Error).message})` });
      return;
    }
    this.fork(incoming, [{ uri: incoming.request.uri, remote: remotes[0], alternates: remotes.slice(1), recordRoute: [] }], fromPhone);
  }

  /**
   * Record-Route (16.6 step 4): a phone a branch goes to is behind a NAT only we reach it
   * through (its entry on top); and a caller that sent its INVITE to us sends the rest of the
   * dialog to us too (a phone, or anyone using us as outbound proxy), so its flow goes in too.
   * A MESSAGE makes no dialog: only a NATed sender needs its flow remembered.
   */
  private fork(incoming: IncomingRequest, targets: ProxyTarget[], fromPhone: Remote | undefined): void {
    this.vouchForOwnPhone(incoming);
    const { request, remote } = incoming;
    const contact = uriText(((request.headers.contact as RouteEntry[] | undefined) ?? [])[0]?.uri ?? '');
    const upstream = fromPhone ?? (request.method === 'INVITE' ? { ...remote } : contact ? flowBehindNat(contact, remote) : undefined);
    const up = upstream ? [this.routes.recordRoute(upstream)] : [];
    const hops = Number(request.headers['max-forwards'] ?? 70) - 1;
    this.proxy.fork(incoming, targets.map((t) => ({ ...t, recordRoute: [...t.recordRoute, ...up] })), hops);
  }

  /** Nothing a request brings may take the node down: 500, and the reason in the log. */
  private failed(incoming: IncomingRequest, error: Error): void {
    this.deps.log.warn('routing a request failed', { method: incoming.request.method, uri: incoming.request.uri, error: error.message });
    incoming.respond(500, { reason: 'Server Internal Error (routing failed)' });
  }

  private checkHops(incoming: IncomingRequest): boolean {
    const hops = Number(incoming.request.headers['max-forwards'] ?? 70);
    if (hops > 0) return true;
    this.counters.tooManyHops++;
    incoming.respond(483, { reason: 'Too Many Hops' });
    return false;
  }

  private localTarget(user: string): ProxyTarget {
    const stack = this.deps.stack;
    return { uri: `sip:${user}@${hostForUri(stack.host)}:${stack.port}`, remote: stack.loopback, recordRoute: [] };
  }

  /** Every live binding of one of the user's phones (or of all of them), reached on the flow its REGISTER came on. */
  private phoneTargets(user: string, phoneId?: string): ProxyTarget[] {
    const now = this.now();
    const entries = (phoneId ? [this.entries.get(phoneId)].filter((e) => e !== undefined) : [...this.entries.values()]).filter((e) => this.ownerOf(e.phone) === user);
    return entries.flatMap((e) =>
      e.bindings
        .filter((b) => b.expiresAt > now)
        .map((b) => {
          const remote = phoneRemote(b);
          return { uri: b.contact, remote, recordRoute: [this.routes.recordRoute(remote)], ...(e.phone.farmUser ? {} : this.plainForPhone()) };
        }),
    );
  }

  /**
   * A user's encrypted call forked to one of the user's phones: the phone gets the offer in plain
   * RTP/AVP (it cannot take the end-to-end key), and its answer goes back vouched for by the
   * user's key, so the caller can tell the user picked up on a phone that cannot encrypt.
   */
  private plainForPhone(): Pick<ProxyTarget, 'adaptRequest' | 'adaptAnswer'> {
    const key = this.deps.identity.signingKey;
    if (!key) return {};
    let madePlain = false;
    return {
      adaptRequest: (copy) => {
        const sdp = typeof copy.content === 'string' ? copy.content : '';
        if (copy.method !== 'INVITE' || !sdp.includes('a=peerdial-srtp:')) return;
        copy.content = plainOfferForPhone(sdp);
        madePlain = true;
      },
      adaptAnswer: (response) => {
        if (madePlain) response.headers[PHONE_ATTESTATION_HEADER] = attestPhoneRequest(response, this.now(), key);
      },
    };
  }

  /** Phones of this node's own user with a registration that has not run out. */
  private hasLivePhones(): boolean {
    const now = this.now();
    return [...this.entries.values()].some((e) => e.phone.farmUser === undefined && e.bindings.some((b) => b.expiresAt > now));
  }

  /** Phones with a registration that has not run out. */
  private registeredCount(): number {
    const now = this.now();
    return [...this.entries.values()].filter((e) => e.bindings.some((b) => b.expiresAt > now)).length;
  }

  /** The flow of a registered phone when the request came on it. */
  private phoneFlow(remote: Remote): Remote | undefined {
    return this.phoneOnFlow(remote)?.flow;
  }

  private phoneOnFlow(remote: Remote): { flow: Remote; phone: StoredPhone } | undefined {
    const now = this.now();
    for (const e of this.entries.values()) {
      for (const b of e.bindings) {
        if (b.expiresAt > now && b.source.address === remote.address && b.source.port === remote.port && b.source.protocol === remote.protocol) return { flow: { ...b.source }, phone: e.phone };
      }
    }
    return undefined;
  }

  /**
   * The user's own phone cannot encrypt or seal: the node vouches for its INVITE or MESSAGE with
   * the user's key (wire/sip/phone-attestation.ts), so the far end takes it in the clear as this
   * user's phone. A Peerdial-Phone header anyone else brought is removed, never passed on.
   */
  private vouchForOwnPhone(incoming: IncomingRequest): void {
    const { request, remote } = incoming;
    delete request.headers[PHONE_ATTESTATION_HEADER];
    const user = this.deps.identity.current?.userName;
    const key = this.deps.identity.signingKey;
    // The cheap test first: requests routed for others never name our user, and need no scan of the phones.
    if (!user || !key || overlayAorOf(uriText(request.headers.from?.uri ?? ''), this.deps.overlay.overlay) !== `sip:${user}@${this.deps.overlay.overlay.toLowerCase()}`) return;
    const on = this.phoneOnFlow(remote);
    if (!on || on.phone.farmUser) return;
    request.headers[PHONE_ATTESTATION_HEADER] = attestPhoneRequest(request, this.now(), key);
  }

  /**
   * A phone's bindings after a REGISTER. A new or lost contact is written at once (routing after
   * a restart depends on it); a refresh of the same contacts only moves their expiry, and is
   * written within a second, with every other refresh of that second: a phone that refreshes
   * often, or many phones, cost one write a second, not one a REGISTER.
   */
  private async setBindings(phoneId: string, bindings: Binding[]): Promise<void> {
    const entry = this.entries.get(phoneId);
    if (!entry) return;
    const before = entry.bindings.map((b) => b.contact).join('\n');
    entry.bindings = bindings;
    if (before === bindings.map((b) => b.contact).join('\n')) {
      this.dirty.add(phoneId);
      this.flushTimer ??= setTimeout(() => void this.flush(), REFRESH_WRITE_MS).unref();
      return;
    }
    this.dirty.delete(phoneId);
    await this.deps.phones.replaceBindings(phoneId, bindings);
    const phone = entry.phone;
    this.deps.log.info(bindings.length ? 'phone registered' : 'phone unregistered', { name: phone.name, contacts: bindings.map((b) => b.contact), userAgent: bindings[0]?.userAgent });
    this.deps.onChange();
    if (phone.farmUser !== undefined) this.farm.republish();
  }

  /** Writes the refreshes not yet written. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry) await this.deps.phones.replaceBindings(id, entry.bindings).catch((error: Error) => this.deps.log.warn('could not store a phone\'s registration', { error: error.message }));
    }
  }

  private viewOf(entry: RegisteredPhone): PhoneView {
    const now = this.now();
    const live = entry.bindings.filter((b) => b.expiresAt > now);
    return {
      id: entry.phone.id,
      name: entry.phone.name,
      user: this.ownerOf(entry.phone) ?? '',
      farm: entry.phone.farmUser !== undefined,
      username: entry.phone.username,
      state: live.length ? 'registered' : 'not-registered',
      bindings: live.map((b) => ({
        contact: b.contact,
        address: `${hostForUri(b.source.address)}:${b.source.port}`,
        protocol: b.source.protocol,
        ...(b.userAgent ? { userAgent: b.userAgent } : {}),
        expiresInS: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
      })),
      createdAt: entry.phone.createdAt,
    };
  }

  private registrarAddress(): string {
    const stack = this.deps.stack;
    return `${hostForUri(stack.host)}:${stack.port}`;
  }

  private isUs(host: string, port: number | undefined): boolean {
    return this.deps.stack.isOwnAddress(host, port);
  }
}

/** A phone's contact at a node that is also listed without the phone: that node rings its phones itself. */
export function collapsePhoneContacts(contacts: readonly string[]): string[] {
  const hostOf = (c: string) => {
    const u = parseSipUri(c);
    return u ? `${u.host.toLowerCase()}:${u.port ?? 5060}` : c;
  };
  const plain = new Set(contacts.filter((c) => !new RegExp(`;${PHONE_PARAM}=`, 'i').test(c)).map(hostOf));
  return contacts.filter((c) => !new RegExp(`;${PHONE_PARAM}=`, 'i').test(c) || !plain.has(hostOf(c)));
}

function contentTypeOf(request: IncomingRequest['request']): string {
  return String(request.headers['content-type'] ?? 'text/plain').split(';')[0].trim().toLowerCase();
}

function isText(request: IncomingRequest['request']): boolean {
  return contentTypeOf(request) === 'text/plain';
}

function sameFlow(a: Remote, b: Remote | undefined): boolean {
  return !!b && a.address === b.address && a.port === b.port;
}

/** The slot of a phone's binding in the overlay: one per phone, whichever node publishes it. */
function phoneSlot(phoneId: string): string {
  return createHash('sha1').update(`phone:${phoneId}`).digest('hex');
}

/**
 * Where a phone's binding is reached: the flow its REGISTER came on when it asked for RFC 5626
 * outbound (reg-id) or its Contact is a private address its packets do not come from (a NAT);
 * otherwise the Contact itself (RFC 3261 10: a phone may register a contact other than its own
 * socket, and a phone on a public or the same address is reached there).
 */
function phoneRemote(b: Binding): Remote {
  // Over TLS, the connection the phone registered on: its own listener would show a certificate
  // nobody can check, and the phone knows this connection to be ours.
  if (b.regId !== undefined || b.source.protocol === 'tls') return { ...b.source };
  const behindNat = flowBehindNat(b.contact, b.source);
  if (behindNat) return behindNat;
  const uri = parseSipUri(b.contact);
  const host = uri?.host.replace(/^\[(.*)\]$/, '$1');
  if (!uri || !host || !isIP(host)) return { ...b.source };
  const transport = String(uri.params.transport ?? b.source.protocol).toLowerCase();
  return { protocol: transport === 'tcp' ? 'tcp' : 'udp', address: host, port: uri.port ?? 5060 };
}
