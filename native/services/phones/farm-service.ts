// Farm mode (`--farm`): several nodes on one LAN serve one domain's phones together. They share
// one secret, from which every farm key derives (wire/farm/farm-keys.ts):
//
// - Finding the farm: members announce the farm's ID in their DNS-SD TXT record (`farm`). A node
//   started with --farm and no secret asks an announcing member for it (a `join` carrying a
//   one-time X25519 key; the secret comes back sealed to it). A member hands it out only while
//   it admits servers: for ten minutes after it founded the farm, and whenever its user opens
//   admission (farm.admit), as a Wi-Fi pairing button does. A node that finds no farm founds one.
// - Accounts: a farm user's phone accounts (H(A1) values) are copied to every member (`sync`,
//   sealed with the farm's key), on every change, to a member newly seen, and once a minute.
// - The overlay: the farm's Ed25519 key owns its users' name claims and their phones' bindings,
//   so whichever member a phone registers to publishes its binding, replacing the one a dead
//   member published. Every member claims the farm users' names (they hold the same key, so any
//   one of them keeps the claims alive when others die).
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { deriveFarmKeys, FARM_SECRET_BYTES, type FarmKeys } from '../../wire/farm/farm-keys.js';
import {
  encodeFarmMessage,
  FARM_ACCOUNTS_PER_MESSAGE,
  FARM_CONTENT_TYPE,
  openFarmSecret,
  openFarmSync,
  readFarmMessage,
  sealFarmSecret,
  sealFarmSync,
  type FarmAccount,
  type FarmMessage,
  type FarmRemoval,
  type FarmSync,
} from '../../wire/farm/farm-message.js';
import { generateX25519KeyPair } from '../../wire/crypto/x25519.js';
import { idToHex, keyForAor } from '../../wire/overlay/node-id.js';
import { PHONE_CONTACT_PARAM, signRecord, type OverlayRecord, type UnsignedRecord } from '../../wire/overlay/record.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';
import { hostForUri } from '../../wire/sip/uri.js';
import { UserError } from '../errors.js';
import type { IncomingRequest, SipStack } from '../sip/index.js';
import type { FarmView } from './phones-view.js';

const ENABLED_KEY = 'farm.enabled';
const SECRET_KEY = 'farm.secret';
/** Admission stays open this long after founding a farm. */
const ADMIT_AFTER_FOUNDING_MS = 10 * 60_000;
const MAX_ADMIT_MINUTES = 60;
/** A node with --farm that has found no farm on the LAN by then founds one. */
export const DEFAULT_FOUND_AFTER_MS = 8_000;
const SYNC_EVERY_MS = 60_000;
/** Syncs older than this are replays, not news. */
const SYNC_MAX_AGE_MS = 10 * 60_000;

export interface FarmPeer {
  nodeId: string;
  host: string;
  port: number;
  farm?: string;
  overlay: string;
}

/** What the farm needs of the phones service: the farm accounts it holds, and a way to take in others'. */
export interface FarmAccounts {
  farmAccounts(): FarmAccount[];
  farmRemovals(): FarmRemoval[];
  /** Takes in a sync (newest copy wins); true when anything changed. */
  mergeFarmSync(sync: FarmSync): Promise<boolean>;
  /** The farm users' phones registered here: the bindings this member publishes. */
  farmBindings(): Array<{ user: string; phoneId: string; slot: string }>;
  /** Drops every farm account held here (leaving the farm). */
  forgetFarmAccounts(): Promise<void>;
}

export interface FarmServiceDeps {
  stack: SipStack;
  settings: SettingsRepository;
  accounts: FarmAccounts;
  overlay: {
    readonly overlay: string;
    readonly self?: { id: string };
    putRecords(records: OverlayRecord[]): Promise<{ rejected: Array<{ reason: string }> }>;
    lookupAor(aor: string): Promise<{ owner?: string }>;
    /** The proof of work a name claim must carry (undefined: the overlay asks none). */
    claimWork(owner: string, user: string): Promise<number | undefined>;
  };
  lanPeers(): FarmPeer[];
  onPeersChanged(listener: () => void): void;
  /** The farm ID this node announces on the LAN (undefined: none). */
  announce(farmId: string | undefined): void;
  log: Logger;
  /** How often the farm's records go into the overlay again (the overlay's refresh). */
  publishEveryMs: number;
  foundAfterMs?: number;
  now?: () => number;
  onChange(): void;
}

export class FarmService {
  private enabled = false;
  private secret?: Buffer;
  private keys?: FarmKeys;
  private admitUntil = 0;
  private readonly synced = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private foundTimer?: NodeJS.Timeout;
  private joining = false;
  private membersSeen = '';
  private readonly now: () => number;
  readonly counters = { joinsAdmitted: 0, joinsRefused: 0, syncsSent: 0, syncsReceived: 0, syncsRefused: 0 };

  constructor(private readonly deps: FarmServiceDeps) {
    this.now = deps.now ?? Date.now;
    deps.onPeersChanged(() => this.peersChanged());
  }

  /** `wanted`: --farm was given (true), or the stored setting decides (undefined). */
  async start(wanted?: boolean): Promise<void> {
    if (wanted !== undefined) await this.deps.settings.set(ENABLED_KEY, wanted);
    this.enabled = wanted ?? (await this.deps.settings.get<boolean>(ENABLED_KEY)) ?? false;
    const stored = await this.deps.settings.get<string>(SECRET_KEY);
    if (stored) this.adopt(Buffer.from(stored, 'base64url'));
    if (!this.enabled) return;
    this.timers.push(setInterval(() => void this.syncAll(), SYNC_EVERY_MS).unref());
    this.timers.push(setInterval(() => void this.publish(), this.deps.publishEveryMs).unref());
    if (this.keys) this.becameMember();
    else this.look();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.foundTimer) clearTimeout(this.foundTimer);
  }

  get member(): boolean {
    return this.enabled && this.keys !== undefined;
  }

  /** The farm's public key (owner of its users' records), while a member. */
  get ownerKey(): string | undefined {
    return this.member ? this.keys!.publicKey : undefined;
  }

  view(): FarmView {
    const members = this.members().map((p) => `${hostForUri(p.host)}:${p.port}`);
    return {
      enabled: this.enabled,
      state: !this.enabled ? 'off' : this.keys ? 'member' : 'looking',
      ...(this.member ? { id: this.keys!.id, members, admittingForS: Math.max(0, Math.round((this.admitUntil - this.now()) / 1000)) } : {}),
      counters: { ...this.counters },
    };
  }

  /** Turns farm mode on (joining or founding a farm) or off (leaving it: its secret and accounts are forgotten here). */
  async configure(enabled: boolean): Promise<FarmView> {
    if (enabled === this.enabled) return this.view();
    this.stop();
    if (!enabled) {
      this.enabled = false;
      this.secret = this.keys = undefined;
      this.admitUntil = 0;
      await this.deps.settings.set(SECRET_KEY, null);
      await this.deps.settings.set(ENABLED_KEY, false);
      await this.deps.accounts.forgetFarmAccounts();
      this.deps.announce(undefined);
      this.deps.log.info('left the farm');
      this.deps.onChange();
      return this.view();
    }
    await this.start(true);
    this.deps.onChange();
    return this.view();
  }

  /** Lets servers join the farm through this member for a while ("Add a server to the farm"). */
  admit(minutes: number): FarmView {
    if (!this.member) throw new UserError('INVALID_STATE', 'This node is not a farm server: turn farm mode on first (--farm).');
    if (!Number.isFinite(minutes) || minutes < 0 || minutes > MAX_ADMIT_MINUTES) throw new UserError('INVALID_ARGUMENT', `Admit servers for 0 to ${MAX_ADMIT_MINUTES} minutes.`);
    this.admitUntil = this.now() + minutes * 60_000;
    this.deps.log.info(minutes ? 'farm admits servers' : 'farm admission closed', { minutes });
    this.deps.onChange();
    return this.view();
  }

  /** A farm user's name may be given out when nobody, or the farm, holds it in the overlay. */
  async checkUserFree(user: string): Promise<void> {
    const found = await this.deps.overlay.lookupAor(`sip:${user}@${this.deps.overlay.overlay}`).catch(() => undefined);
    if (found?.owner && found.owner !== this.keys?.publicKey) throw new UserError('INVALID_ARGUMENT', `The name "${user}" is already claimed in overlay ${this.deps.overlay.overlay} by someone else.`);
  }

  /** The accounts changed here: every member hears at once, and the overlay is told. */
  changed(): void {
    if (!this.member) return;
    void this.syncAll();
    void this.publish();
  }

  /** A farm phone registered here or let its registration go: its binding goes into the overlay now. */
  republish(): void {
    void this.publish();
  }

  /** A MESSAGE with the farm's content type (the phones service's router hands it over). */
  onMessage(incoming: IncomingRequest): void {
    void this.handle(incoming).catch((error: Error) => {
      this.deps.log.warn('farm message failed', { error: error.message });
      incoming.respond(500);
    });
  }

  private async handle(incoming: IncomingRequest): Promise<void> {
    const { request, respond, remote } = incoming;
    const message = readFarmMessage(String(request.content ?? ''));
    if (typeof message === 'string') {
      respond(400, { reason: `Bad Request (${message})` });
      return;
    }
    if (!this.member) {
      respond(404, { reason: 'Not Found (not a farm server)' });
      return;
    }
    const keys = this.keys!;
    if (message.op === 'join') {
      if (this.now() >= this.admitUntil) {
        this.counters.joinsRefused++;
        this.deps.log.info('a server asked to join the farm while admission is closed', { from: remote.address, node: message.node });
        respond(403, { reason: 'Forbidden (this farm admits servers only while admission is open on a member)' });
        return;
      }
      this.counters.joinsAdmitted++;
      this.deps.log.info('a server joined the farm', { from: remote.address, node: message.node });
      respond(200, { headers: { 'content-type': FARM_CONTENT_TYPE }, body: encodeFarmMessage({ op: 'key', farm: keys.id, key: sealFarmSecret(this.secret!, message.x25519) }) });
      return;
    }
    if (message.op !== 'sync' || message.farm !== keys.id) {
      this.counters.syncsRefused++;
      respond(403, { reason: 'Forbidden (not a member of this farm)' });
      return;
    }
    const sync = openFarmSync(message.sealed, keys.syncKey, keys.id, message.node);
    if (typeof sync === 'string' || Math.abs(this.now() - sync.sentAt) > SYNC_MAX_AGE_MS) {
      this.counters.syncsRefused++;
      this.deps.log.info('farm sync refused', { from: remote.address, why: typeof sync === 'string' ? sync : 'too old' });
      respond(403, { reason: `Forbidden (${typeof sync === 'string' ? sync : 'a sync too old to be news'})` });
      return;
    }
    this.counters.syncsReceived++;
    respond(200);
    if (await this.deps.accounts.mergeFarmSync(sync)) {
      this.deps.onChange();
      void this.publish();
    }
  }

  private adopt(secret: Buffer): void {
    this.secret = secret;
    this.keys = deriveFarmKeys(secret);
  }

  private becameMember(): void {
    this.deps.announce(this.keys!.id);
    this.synced.clear();
    this.deps.onChange();
    this.peersChanged();
    void this.publish();
  }

  // ---- finding the farm

  private look(): void {
    this.deps.log.info('looking for a farm on the LAN');
    this.foundTimer = setTimeout(() => void this.found(), this.deps.foundAfterMs ?? DEFAULT_FOUND_AFTER_MS).unref();
    this.peersChanged();
  }

  private async found(): Promise<void> {
    if (this.keys || !this.enabled || this.joining) return;
    const secret = randomBytes(FARM_SECRET_BYTES);
    await this.deps.settings.set(SECRET_KEY, secret.toString('base64url'));
    this.adopt(secret);
    this.admitUntil = this.now() + ADMIT_AFTER_FOUNDING_MS;
    this.deps.log.info('founded a farm; it admits servers for ten minutes', { farm: this.keys!.id });
    this.becameMember();
  }

  private peersChanged(): void {
    if (!this.enabled) return;
    if (!this.keys) {
      const farms = this.farmPeers();
      if (farms.length) void this.join(farms);
      return;
    }
    // Members newly seen get every account at once.
    const members = this.members();
    for (const peer of members) if (!this.synced.has(peer.nodeId)) void this.syncTo(peer);
    const signature = members.map((p) => `${p.nodeId}@${p.host}:${p.port}`).sort().join();
    if (signature !== this.membersSeen) {
      this.membersSeen = signature;
      this.deps.onChange();
    }
    // A farm this node founded that has nothing in it yet joins an older-numbered farm it sees: two nodes started together end in one farm.
    const lower = this.farmPeers().filter((p) => p.farm! < this.keys!.id);
    if (lower.length && !this.deps.accounts.farmAccounts().length && !this.deps.accounts.farmRemovals().length) void this.join(lower, true);
  }

  private farmPeers(): FarmPeer[] {
    return this.deps.lanPeers().filter((p) => p.farm && p.overlay.toLowerCase() === this.deps.overlay.overlay.toLowerCase());
  }

  private members(): FarmPeer[] {
    return this.keys ? this.farmPeers().filter((p) => p.farm === this.keys!.id) : [];
  }

  private async join(candidates: FarmPeer[], switching = false): Promise<void> {
    const self = this.deps.overlay.self?.id;
    if (this.joining || !self) return;
    this.joining = true;
    try {
      for (const peer of candidates) {
        const pair = generateX25519KeyPair();
        const outcome = await this.send(peer, { op: 'join', node: self, x25519: pair.publicKey.toString('base64url') });
        if (outcome.kind !== 'final' || outcome.response.status !== 200) {
          this.deps.log.info('a farm member did not let us join', { member: `${peer.host}:${peer.port}`, answer: outcome.kind === 'final' ? `${outcome.response.status} ${outcome.response.reason}` : outcome.kind });
          continue;
        }
        const answer = readFarmMessage(String(outcome.response.content ?? ''));
        const secret = typeof answer !== 'string' && answer.op === 'key' ? openFarmSecret(answer.key, pair.privateKey) : undefined;
        if (!secret || deriveFarmKeys(secret).id !== peer.farm) {
          this.deps.log.warn('a farm member answered with a key that does not open', { member: `${peer.host}:${peer.port}` });
          continue;
        }
        if (this.keys && !switching) return;
        if (this.foundTimer) clearTimeout(this.foundTimer);
        await this.deps.settings.set(SECRET_KEY, secret.toString('base64url'));
        this.adopt(secret);
        this.admitUntil = 0;
        this.deps.log.info(switching ? 'joined an older farm found on the LAN' : 'joined the farm', { farm: this.keys!.id, through: `${peer.host}:${peer.port}` });
        this.becameMember();
        return;
      }
    } finally {
      this.joining = false;
    }
  }

  // ---- the accounts, among members

  private async syncAll(): Promise<void> {
    await Promise.allSettled(this.members().map((p) => this.syncTo(p)));
  }

  private async syncTo(peer: FarmPeer): Promise<void> {
    const keys = this.keys;
    const self = this.deps.overlay.self?.id;
    if (!keys || !self) return;
    this.synced.add(peer.nodeId);
    const accounts = this.deps.accounts.farmAccounts();
    const removed = this.deps.accounts.farmRemovals();
    const pages = Math.max(1, Math.ceil(accounts.length / FARM_ACCOUNTS_PER_MESSAGE));
    for (let page = 0; page < pages; page++) {
      const sync: FarmSync = {
        sentAt: this.now(),
        accounts: accounts.slice(page * FARM_ACCOUNTS_PER_MESSAGE, (page + 1) * FARM_ACCOUNTS_PER_MESSAGE),
        removed: page === 0 ? removed.slice(-4 * FARM_ACCOUNTS_PER_MESSAGE) : [],
      };
      const outcome = await this.send(peer, { op: 'sync', farm: keys.id, node: self, sealed: sealFarmSync(sync, keys.syncKey, keys.id, self) });
      if (outcome.kind !== 'final' || outcome.response.status !== 200) {
        // Tried again when it is next seen, or within a minute.
        this.synced.delete(peer.nodeId);
        return;
      }
      this.counters.syncsSent++;
    }
  }

  /** A farm message to a member, node to node (no user on either side). */
  private send(peer: FarmPeer, message: FarmMessage) {
    const stack = this.deps.stack;
    return stack.request({
      method: 'MESSAGE',
      to: `sip:${hostForUri(peer.host)}:${peer.port}`,
      from: `sip:${hostForUri(stack.host)}:${stack.port}`,
      contentType: FARM_CONTENT_TYPE,
      body: encodeFarmMessage(message),
      timeoutMs: 5_000,
    });
  }

  // ---- the overlay

  /** The farm users' name claims and this member's bindings for their phones. */
  private async publish(): Promise<void> {
    const keys = this.keys;
    const self = this.deps.overlay.self?.id;
    if (!this.member || !keys || !self) return;
    const overlay = this.deps.overlay.overlay;
    const now = this.now();
    const expires = now + 3 * this.deps.publishEveryMs;
    const base = (user: string) => ({ key: idToHex(keyForAor(user, overlay)), owner: keys.publicKey, seq: now, expires });
    const records: UnsignedRecord[] = [];
    for (const user of new Set(this.deps.accounts.farmAccounts().map((a) => a.user))) {
      // Without its work the claim is refused (name-work); a failed solve is tried at the next publish.
      const work = await this.deps.overlay.claimWork(keys.publicKey, user).catch(() => undefined);
      records.push({ ...base(user), type: 'name', slot: '', value: { user, overlay, displayName: user, ...(work !== undefined ? { work } : {}) } });
    }
    for (const b of this.deps.accounts.farmBindings()) {
      const contact = `${this.deps.stack.contactFor(b.user)};${PHONE_CONTACT_PARAM}=${b.phoneId}`;
      records.push({ ...base(b.user), type: 'binding', slot: b.slot, value: { user: b.user, overlay, contact } });
    }
    if (!records.length) return;
    try {
      const result = await this.deps.overlay.putRecords(records.map((r) => signRecord(r, keys.signingKey)));
      // Another member's newer copy of a name claim makes ours a "replay": nothing is wrong.
      for (const refused of result.rejected) if (refused.reason !== 'replay') this.deps.log.warn('the overlay refused a farm record', { reason: refused.reason });
    } catch (error) {
      this.deps.log.info('farm records not published yet', { error: (error as Error).message });
    }
  }
}
