// One ICE session (RFC 8445) for one media stream with one component (RTP and RTCP multiplexed,
// RFC 5761), sans-IO: the caller gathers candidates, hands over every STUN datagram that reaches
// the stream's socket or its relays, and sends what the agent asks. Regular nomination (8.1.1),
// triggered checks (7.3.1.4), peer-reflexive candidates (7.2.5.3.1, 7.3.1.3), role conflicts
// (7.3.1.1) and consent freshness (RFC 7675). An ICE restart is a new agent (a new ufrag and
// password, RFC 8445 9): the caller keeps the old one for media until the new one has a pair.
import { randomBytes, randomInt } from 'node:crypto';
import type { TimerHandle, TimerHost } from '../sip/timers.js';
import { decodePriority, decodeTieBreaker, encodePriority, encodeTieBreaker } from '../../wire/stun/ice.js';
import { shortTermKey, verifyIntegrity } from '../../wire/stun/integrity.js';
import {
  ATTR,
  BINDING,
  attribute,
  decodeErrorCode,
  decodeXorAddress,
  encodeErrorCode,
  encodeXorAddress,
  parseStun,
  serializeStun,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../wire/stun/message.js';
import {
  addressKey,
  candidatePriority,
  foundationOf,
  pairPriority,
  sameAddress,
  type CandidateType,
  type IceCandidate,
  type LocalCandidate,
  type Via,
} from './ice-candidates.js';

export type IceRole = 'controlling' | 'controlled';
export type IceState = 'new' | 'checking' | 'connected' | 'disconnected' | 'failed' | 'closed';
type PairState = 'frozen' | 'waiting' | 'in-progress' | 'succeeded' | 'failed';

export interface RemoteIceParameters {
  ufrag: string;
  pwd: string;
  candidates: IceCandidate[];
}

export interface SelectedPair {
  local: LocalCandidate;
  remote: IceCandidate;
  rttMs: number | undefined;
}

export interface IceAgentOptions {
  role: IceRole;
  timers: TimerHost;
  now(): number;
  /** Sends a STUN message from the local candidate's base: the call's socket or a TURN allocation. */
  send(bytes: Buffer, to: TransportAddress, via: Via): void;
  onStateChange?(state: IceState): void;
  onSelected?(pair: SelectedPair): void;
  /** RFC 8445 14.2: the pacing of new checks (default 20 ms; at least 5 ms). */
  taMs?: number;
  /** First retransmission wait of a check; doubles up to 1.6 s (RFC 8445 14.3: not under 500 ms). */
  rtoMs?: number;
  /** Transmissions of one check before its pair fails (default 6: about 8 s). */
  checkSends?: number;
  /** Once a pair is valid, how long a better pair still being checked may take before we nominate (default 100 ms). */
  nominationWaitMs?: number;
  /** The same wait when the best valid pair goes through a relay and direct ones are still being checked (default 1 s). */
  relayNominationWaitMs?: number;
  /** RFC 7675 5.1: consent requests every 5 s, randomised by +-20%. */
  consentIntervalMs?: number;
  /** RFC 7675 5.1: consent is lost 30 s after the last answer. */
  consentTimeoutMs?: number;
  /** No answer to consent checks and no media for this long: the path is "disconnected" (default 1.5 s). */
  disconnectedAfterMs?: number;
  /** Ufrag and password, for tests; random otherwise (RFC 8445 5.3: 24 and 128 bits at least). */
  ufrag?: string;
  pwd?: string;
}

interface Transaction {
  id: Buffer;
  bytes: Buffer;
  sentAt: number;
  sends: number;
  wait: number;
  timer?: TimerHandle;
  nominating: boolean;
  consent: boolean;
}

interface Pair {
  local: LocalCandidate;
  remote: IceCandidate;
  priority: bigint;
  state: PairState;
  /** The peer asked to use this pair (USE-CANDIDATE), seen by the controlled side. */
  remoteNominated: boolean;
  nominated: boolean;
  rttMs?: number;
  transaction?: Transaction;
}

const MAX_PAIRS = 100;
const MAX_REMOTE_CANDIDATES = 64;
const MAX_RTO_MS = 1600;
const CONSENT_TICK_MS = 250;
/** 75 media packets missing, and consent unanswered: the path is gone. */
const DISCONNECTED_AFTER_MS = 1500;
const RETIRED_ANSWER_WAIT_MS = 4000;

export class IceAgent {
  readonly ufrag: string;
  readonly pwd: string;
  role: IceRole;
  state: IceState = 'new';
  readonly counters = {
    checksSent: 0,
    checksAnswered: 0,
    requestsReceived: 0,
    /** Requests whose USERNAME is not ours, or with a bad or missing MESSAGE-INTEGRITY or FINGERPRINT. */
    forgedRequests: 0,
    /** Answers that fail MESSAGE-INTEGRITY or come from another address than the check went to. */
    forgedAnswers: 0,
    roleConflicts: 0,
    malformed: 0,
    consentRequestsSent: 0,
  };

  private readonly tieBreaker = randomBytes(8).readBigUInt64BE(0);
  private readonly localCandidates: LocalCandidate[] = [];
  private remote: RemoteIceParameters | undefined;
  private readonly remoteCandidates: IceCandidate[] = [];
  private readonly pairs: Pair[] = [];
  private readonly triggered: Pair[] = [];
  /** Checks the peer sent before we had its answer: paired once its candidates are known. */
  private readonly early: { from: TransportAddress; via: Via; priority: number; useCandidate: boolean }[] = [];
  private readonly transactions = new Map<string, { pair: Pair; transaction: Transaction }>();
  private pacer: TimerHandle | undefined;
  private nominationTimer: TimerHandle | undefined;
  private nominationDue = 0;
  private consentTimer: TimerHandle | undefined;
  private nominating: Pair | undefined;
  private selectedPair: Pair | undefined;
  private lastConsentMs = 0;
  private lastHeardMs = 0;

  constructor(private readonly options: IceAgentOptions) {
    this.role = options.role;
    this.ufrag = options.ufrag ?? randomBytes(6).toString('base64url');
    this.pwd = options.pwd ?? randomBytes(18).toString('base64url');
  }

  // ---- candidates ----

  /** Adds a gathered candidate; a server-reflexive one equal to a host candidate is redundant (RFC 8445 5.1.3). */
  addLocalCandidate(c: { type: Exclude<CandidateType, 'prflx'>; address: string; port: number; base: TransportAddress; via: Via; server?: string; related?: TransportAddress; localPreference?: number }): LocalCandidate | undefined {
    if (this.localCandidates.some((l) => l.address === c.address && l.port === c.port && l.via === c.via)) return undefined;
    const candidate: LocalCandidate = {
      foundation: foundationOf(c.type, c.base.address, c.server),
      component: 1,
      transport: 'udp',
      priority: candidatePriority(c.type, c.localPreference),
      address: c.address,
      port: c.port,
      type: c.type,
      related: c.related,
      via: c.via,
      base: c.base,
    };
    this.localCandidates.push(candidate);
    if (this.remote) this.pairWithRemotes(candidate);
    return candidate;
  }

  get candidates(): readonly LocalCandidate[] {
    return this.localCandidates.filter((c) => c.type !== 'prflx');
  }

  /** The peer's ufrag, password and candidates (from its offer or answer). Starts the checks. */
  setRemote(remote: RemoteIceParameters): void {
    if (this.state === 'closed') return;
    this.remote = remote;
    for (const candidate of remote.candidates.slice(0, MAX_REMOTE_CANDIDATES)) this.addRemoteCandidate(candidate);
    for (const check of this.early.splice(0)) this.learnFromRequest(check.from, check.via, check.priority, check.useCandidate);
    this.setState('checking');
    this.schedulePacer();
  }

  get selected(): SelectedPair | undefined {
    const pair = this.selectedPair;
    return pair && { local: pair.local, remote: pair.remote, rttMs: pair.rttMs };
  }

  /** Where media goes: the selected pair while consent lasts (RFC 7675 5.1). */
  mediaTarget(): { to: TransportAddress; via: Via } | undefined {
    const pair = this.selectedPair;
    if (!pair || this.state === 'failed' || this.state === 'closed') return undefined;
    return { to: { address: pair.remote.address, port: pair.remote.port }, via: pair.local.via };
  }

  /** Media is taken only from a pair that passed a check, so nobody else can inject audio. */
  acceptsMedia(from: TransportAddress, via: Via): boolean {
    if (this.state === 'failed' || this.state === 'closed') return false;
    const ok = this.pairs.some((p) => p.state === 'succeeded' && p.local.via === via && sameAddress(p.remote, from));
    if (ok && this.selectedPair && this.selectedPair.local.via === via && sameAddress(this.selectedPair.remote, from)) {
      this.lastHeardMs = this.options.now();
      if (this.state === 'disconnected') this.setState('connected');
    }
    return ok;
  }

  close(): void {
    if (this.state === 'closed') return;
    for (const handle of [this.pacer, this.nominationTimer, this.consentTimer]) if (handle) this.options.timers.clear(handle);
    for (const { transaction } of this.transactions.values()) if (transaction.timer) this.options.timers.clear(transaction.timer);
    this.transactions.clear();
    for (const pair of this.pairs) pair.transaction = undefined;
    this.setState('closed');
  }

  // ---- receiving ----

  /** A STUN message reached the stream's socket (`via` 'socket') or came out of a relay. False if it is not ICE's. */
  receive(bytes: Buffer, from: TransportAddress, via: Via): boolean {
    if (this.state === 'closed') return false;
    const parsed = parseStun(bytes);
    if (!parsed.ok) {
      this.counters.malformed++;
      return false;
    }
    const message = parsed.message;
    if (message.method !== BINDING) return false;
    if (message.klass === 'request') {
      this.receiveRequest(bytes, message, from, via);
      return true;
    }
    if (message.klass === 'success' || message.klass === 'error') return this.receiveAnswer(bytes, message, from, via);
    // Binding indications are keepalives (RFC 8445 11): nothing to do.
    return message.klass === 'indication';
  }

  private receiveRequest(bytes: Buffer, message: StunMessage, from: TransportAddress, via: Via): void {
    this.counters.requestsReceived++;
    const username = attribute(message, ATTR.USERNAME)?.toString('utf8');
    // RFC 8445 7.3: USERNAME is "our ufrag:their ufrag", MESSAGE-INTEGRITY keyed with our password.
    if (!username || username.split(':')[0] !== this.ufrag || !attribute(message, ATTR.FINGERPRINT) || verifyIntegrity(bytes, shortTermKey(this.pwd)) !== 'ok') {
      this.counters.forgedRequests++;
      return;
    }
    const priority = decodePriority(attribute(message, ATTR.PRIORITY));
    if (priority === undefined) {
      this.counters.forgedRequests++;
      return;
    }
    if (this.roleConflict(message, from, via)) return;
    this.answer(message, from, via, { type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress(from, message.transactionId) });
    const useCandidate = attribute(message, ATTR.USE_CANDIDATE) !== undefined;
    if (this.remote && this.remote.ufrag !== username.split(':')[1]) return; // a check of another generation
    if (!this.remote) {
      if (this.early.length < MAX_REMOTE_CANDIDATES) this.early.push({ from, via, priority, useCandidate });
      return;
    }
    this.learnFromRequest(from, via, priority, useCandidate);
  }

  /** RFC 8445 7.3.1.1: both sides think they control (or neither): the bigger tie-breaker controls. */
  private roleConflict(message: StunMessage, from: TransportAddress, via: Via): boolean {
    const theirs = decodeTieBreaker(attribute(message, this.role === 'controlling' ? ATTR.ICE_CONTROLLING : ATTR.ICE_CONTROLLED));
    if (theirs === undefined) return false;
    this.counters.roleConflicts++;
    const weWin = this.tieBreaker >= theirs;
    if (this.role === 'controlling' ? weWin : !weWin) {
      this.answer(message, from, via, { type: ATTR.ERROR_CODE, value: encodeErrorCode(487, 'Role Conflict') }, 'error');
      return true;
    }
    this.switchRole();
    return false;
  }

  private switchRole(): void {
    this.role = this.role === 'controlling' ? 'controlled' : 'controlling';
    for (const pair of this.pairs) pair.priority = this.priorityOf(pair.local, pair.remote);
  }

  private learnFromRequest(from: TransportAddress, via: Via, priority: number, useCandidate: boolean): void {
    let remote = this.remoteCandidates.find((c) => sameAddress(c, from));
    if (!remote) {
      // RFC 8445 7.3.1.3: a source we were not told of is a peer-reflexive candidate.
      remote = { foundation: `prflx${this.remoteCandidates.length}`, component: 1, transport: 'udp', priority, address: from.address, port: from.port, type: 'prflx' };
      if (this.remoteCandidates.length >= MAX_REMOTE_CANDIDATES) return;
      this.remoteCandidates.push(remote);
    }
    const local = this.localCandidates.find((l) => l.via === via && l.type !== 'srflx' && l.type !== 'prflx');
    if (!local) return;
    let pair = this.pairs.find((p) => p.local === local && p.remote === remote);
    if (!pair) {
      if (this.pairs.length >= MAX_PAIRS) return;
      pair = this.newPair(local, remote, 'waiting');
    }
    if (useCandidate && this.role === 'controlled') {
      pair.remoteNominated = true;
      if (pair.state === 'succeeded') this.nominate(pair);
    }
    // RFC 8445 7.3.1.4: a triggered check, unless the pair succeeded already. One in progress is
    // sent again at once: its first try most likely died at the peer's NAT, which is open now.
    if (pair.state === 'succeeded' || this.triggered.includes(pair)) return;
    if (pair.state === 'in-progress') this.retire(pair);
    pair.state = 'waiting';
    this.triggered.push(pair);
    this.schedulePacer(true);
  }

  private receiveAnswer(bytes: Buffer, message: StunMessage, from: TransportAddress, via: Via): boolean {
    const key = message.transactionId.toString('hex');
    const entry = this.transactions.get(key);
    if (!entry || !this.remote) return false;
    const { pair, transaction } = entry;
    // RFC 8445 7.2.5.2.1: the answer must come from where the check went; 7.2.5.1: and be ours.
    if (pair.local.via !== via || !sameAddress(pair.remote, from) || verifyIntegrity(bytes, shortTermKey(this.remote.pwd)) !== 'ok') {
      this.counters.forgedAnswers++;
      return true;
    }
    this.transactions.delete(key);
    if (transaction.timer) this.options.timers.clear(transaction.timer);
    if (pair.transaction === transaction) pair.transaction = undefined;
    this.counters.checksAnswered++;
    // A retired check answered after its pair succeeded through another one: nothing new.
    if (pair.state === 'succeeded' && !transaction.nominating && !transaction.consent) return true;
    const now = this.options.now();
    if (message.klass === 'error') {
      const code = decodeErrorCode(attribute(message, ATTR.ERROR_CODE) ?? Buffer.alloc(0))?.code;
      if (code === 487 && !transaction.consent) {
        // RFC 8445 7.2.5.1: we were wrong about our role; change it and check again.
        this.switchRole();
        pair.state = 'waiting';
        this.triggered.push(pair);
        this.schedulePacer(true);
        return true;
      }
      this.pairFailed(pair);
      return true;
    }
    // Karn's rule: an answer to a check sent more than once says nothing sure of the round trip.
    if (transaction.sends === 1) pair.rttMs = now - transaction.sentAt;
    if (transaction.consent) {
      this.lastConsentMs = now;
      if (this.state === 'disconnected') this.setState('connected');
      return true;
    }
    const mapped = decodeXorAddress(attribute(message, ATTR.XOR_MAPPED_ADDRESS) ?? Buffer.alloc(0), message.transactionId);
    if (mapped && !this.localCandidates.some((l) => l.via === pair.local.via && sameAddress(l, mapped))) {
      // RFC 8445 7.2.5.3.1: we are seen at an address we did not know: a peer-reflexive candidate.
      this.localCandidates.push({ ...pair.local, type: 'prflx', address: mapped.address, port: mapped.port, priority: candidatePriority('prflx'), foundation: foundationOf('prflx', pair.local.base.address) });
    }
    pair.state = 'succeeded';
    this.lastConsentMs = now;
    // RFC 8445 7.2.5.3.3: a success unfreezes the pairs of the same foundation.
    for (const other of this.pairs) if (other.state === 'frozen' && other.local.foundation === pair.local.foundation) other.state = 'waiting';
    if (transaction.nominating || (this.role === 'controlled' && pair.remoteNominated)) this.nominate(pair);
    else if (this.role === 'controlling') this.considerNomination();
    this.schedulePacer();
    return true;
  }

  // ---- checks ----

  private addRemoteCandidate(candidate: IceCandidate): void {
    if (candidate.component !== 1 || this.remoteCandidates.some((c) => sameAddress(c, candidate))) return;
    this.remoteCandidates.push(candidate);
    for (const local of this.localCandidates) this.pairIfUseful(local, candidate);
  }

  private pairWithRemotes(local: LocalCandidate): void {
    for (const remote of this.remoteCandidates) this.pairIfUseful(local, remote);
  }

  /** RFC 8445 6.1.2.4: a server-reflexive local candidate checks from its base, so its pairs would repeat the host's. */
  private pairIfUseful(local: LocalCandidate, remote: IceCandidate): void {
    if (local.type === 'srflx' || local.type === 'prflx') return;
    if (local.address.includes(':') !== remote.address.includes(':')) return;
    if (this.pairs.length >= MAX_PAIRS || this.pairs.some((p) => p.local === local && sameAddress(p.remote, remote))) return;
    // RFC 8445 6.1.2.6: one pair per foundation starts Waiting, the rest wait Frozen for its result.
    const foundation = `${local.foundation}/${remote.foundation}`;
    const thawed = this.pairs.some((p) => `${p.local.foundation}/${p.remote.foundation}` === foundation);
    this.newPair(local, remote, thawed ? 'frozen' : 'waiting');
  }

  private newPair(local: LocalCandidate, remote: IceCandidate, state: PairState): Pair {
    const pair: Pair = { local, remote, priority: this.priorityOf(local, remote), state, remoteNominated: false, nominated: false };
    this.pairs.push(pair);
    return pair;
  }

  private priorityOf(local: IceCandidate, remote: IceCandidate): bigint {
    return this.role === 'controlling' ? pairPriority(local.priority, remote.priority) : pairPriority(remote.priority, local.priority);
  }

  /** One new check every Ta (RFC 8445 6.1.4.2): triggered first, then the best Waiting pair, then the best Frozen one. */
  private schedulePacer(now = false): void {
    if (this.pacer || this.state === 'closed' || !this.remote) return;
    this.pacer = this.options.timers.set(now ? 0 : (this.options.taMs ?? 20), () => {
      this.pacer = undefined;
      let pair = this.triggered.shift();
      // A triggered pair may have succeeded meanwhile through the answer to an earlier check.
      while (pair && pair.state === 'succeeded') pair = this.triggered.shift();
      pair ??= this.best('waiting') ?? this.best('frozen');
      if (pair) {
        this.check(pair, false);
        this.schedulePacer();
        return;
      }
      this.checkFailure();
    });
  }

  private best(state: PairState): Pair | undefined {
    let best: Pair | undefined;
    for (const pair of this.pairs) if (pair.state === state && (!best || pair.priority > best.priority)) best = pair;
    return best;
  }

  private check(pair: Pair, nominating: boolean, consent = false): void {
    const remote = this.remote!;
    this.retire(pair);
    const id = randomBytes(12);
    const attributes: StunAttribute[] = [
      { type: ATTR.USERNAME, value: Buffer.from(`${remote.ufrag}:${this.ufrag}`, 'utf8') },
      { type: ATTR.PRIORITY, value: encodePriority(candidatePriority('prflx', pair.local.priority >>> 8 & 0xffff)) },
      { type: this.role === 'controlling' ? ATTR.ICE_CONTROLLING : ATTR.ICE_CONTROLLED, value: encodeTieBreaker(this.tieBreaker) },
    ];
    if (nominating) attributes.push({ type: ATTR.USE_CANDIDATE, value: Buffer.alloc(0) });
    const bytes = serializeStun({ method: BINDING, klass: 'request', transactionId: id, attributes }, { integrityKey: shortTermKey(remote.pwd), fingerprint: true });
    const transaction: Transaction = { id, bytes, sentAt: this.options.now(), sends: 0, wait: this.options.rtoMs ?? 500, nominating, consent };
    pair.transaction = transaction;
    // A nominating check is sent on a pair that already succeeded: it keeps that state.
    if (!consent && !nominating && pair.state !== 'succeeded') pair.state = 'in-progress';
    this.transactions.set(id.toString('hex'), { pair, transaction });
    if (consent) this.counters.consentRequestsSent++;
    this.transmit(pair, transaction);
  }

  private transmit(pair: Pair, transaction: Transaction): void {
    transaction.sends++;
    this.counters.checksSent++;
    this.options.send(transaction.bytes, pair.remote, pair.local.via);
    // Consent requests are not retransmitted (RFC 7675 5.1): the next one follows soon enough.
    const sends = transaction.consent ? 1 : (this.options.checkSends ?? 6);
    transaction.timer = this.options.timers.set(transaction.wait, () => {
      transaction.timer = undefined;
      if (transaction.sends < sends) {
        transaction.wait = Math.min(transaction.wait * 2, MAX_RTO_MS);
        this.transmit(pair, transaction);
        return;
      }
      this.cancelTransaction(pair);
      if (transaction.nominating) pair.state = 'failed';
      if (!transaction.consent) this.pairFailed(pair);
    });
  }

  private cancelTransaction(pair: Pair): void {
    const transaction = pair.transaction;
    if (!transaction) return;
    if (transaction.timer) this.options.timers.clear(transaction.timer);
    this.transactions.delete(transaction.id.toString('hex'));
    pair.transaction = undefined;
  }

  /**
   * RFC 8445 7.3.1.4's cancel: no more retransmissions, and no failure for want of an answer,
   * but an answer that still comes counts for the next few seconds.
   */
  private retire(pair: Pair): void {
    const transaction = pair.transaction;
    if (!transaction) return;
    if (transaction.timer) this.options.timers.clear(transaction.timer);
    pair.transaction = undefined;
    const key = transaction.id.toString('hex');
    transaction.timer = this.options.timers.set(RETIRED_ANSWER_WAIT_MS, () => this.transactions.delete(key));
  }

  private pairFailed(pair: Pair): void {
    if (pair.state !== 'succeeded') pair.state = 'failed';
    if (this.nominating === pair) this.nominating = undefined;
    if (this.role === 'controlling') this.considerNomination();
    this.checkFailure();
  }

  /** RFC 8445 8.1.2: every pair failed and none was selected. */
  private checkFailure(): void {
    if (this.selectedPair || this.state === 'failed' || this.state === 'closed' || !this.remote) return;
    if (this.pairs.some((p) => p.state !== 'failed') || this.triggered.length > 0) return;
    this.setState('failed');
  }

  // ---- nomination and consent ----

  /** Regular nomination (RFC 8445 8.1.1): once no better pair is still being checked, or after a short wait. */
  private considerNomination(): void {
    if (this.role !== 'controlling' || this.selectedPair || this.nominating) return;
    const valid = this.best('succeeded');
    if (!valid) return;
    const betterPending = this.pairs.some((p) => p.priority > valid.priority && (p.state === 'waiting' || p.state === 'in-progress' || p.state === 'frozen'));
    if (!betterPending) {
      this.nominateByCheck(valid);
      return;
    }
    // A relayed path is the last resort: direct ones still being checked get longer to come through.
    const relayed = valid.local.type === 'relay' || valid.remote.type === 'relay';
    const wait = relayed ? (this.options.relayNominationWaitMs ?? 1000) : (this.options.nominationWaitMs ?? 100);
    const due = this.options.now() + wait;
    if (this.nominationTimer && this.nominationDue <= due) return;
    if (this.nominationTimer) this.options.timers.clear(this.nominationTimer);
    this.nominationDue = due;
    this.nominationTimer = this.options.timers.set(wait, () => {
      this.nominationTimer = undefined;
      const best = this.best('succeeded');
      if (best && !this.selectedPair && !this.nominating) this.nominateByCheck(best);
    });
  }

  private nominateByCheck(pair: Pair): void {
    this.nominating = pair;
    this.check(pair, true);
  }

  private nominate(pair: Pair): void {
    pair.nominated = true;
    if (this.nominating === pair) this.nominating = undefined;
    if (this.selectedPair && this.selectedPair.priority >= pair.priority) return;
    this.selectedPair = pair;
    this.lastConsentMs = this.lastHeardMs = this.options.now();
    this.setState('connected');
    this.options.onSelected?.({ local: pair.local, remote: pair.remote, rttMs: pair.rttMs });
    this.scheduleConsent();
  }

  /**
   * Every half second: judge the path, and ask for consent when it is due (RFC 7675 5.1: about
   * every 5 s) or, quicker, once nothing has been heard for a while, so a dead relay shows
   * within a few seconds.
   */
  private scheduleConsent(): void {
    if (this.consentTimer) this.options.timers.clear(this.consentTimer);
    const base = this.options.consentIntervalMs ?? 5000;
    let nextRequestAt = this.options.now() + randomInt(Math.round(base * 0.8), Math.round(base * 1.2) + 1);
    const tick = () => {
      this.consentTimer = undefined;
      if (!this.selectedPair || this.state === 'closed' || this.state === 'failed') return;
      if (!this.judgeConsent()) return;
      const now = this.options.now();
      const quiet = now - Math.max(this.lastHeardMs, this.lastConsentMs) >= (this.options.disconnectedAfterMs ?? DISCONNECTED_AFTER_MS) / 2;
      if (quiet || now >= nextRequestAt) {
        this.check(this.selectedPair, false, true);
        nextRequestAt = now + randomInt(Math.round(base * 0.8), Math.round(base * 1.2) + 1);
      }
      this.consentTimer = this.options.timers.set(CONSENT_TICK_MS, tick);
    };
    this.consentTimer = this.options.timers.set(CONSENT_TICK_MS, tick);
  }

  /** False once consent has expired: nothing more is sent on the pair. */
  private judgeConsent(): boolean {
    const now = this.options.now();
    const heard = Math.max(this.lastHeardMs, this.lastConsentMs);
    if (now - this.lastConsentMs >= (this.options.consentTimeoutMs ?? 30_000)) {
      this.setState('failed');
      return false;
    }
    if (this.state === 'connected' && now - heard >= (this.options.disconnectedAfterMs ?? DISCONNECTED_AFTER_MS)) this.setState('disconnected');
    return true;
  }

  private answer(request: StunMessage, to: TransportAddress, via: Via, attribute: StunAttribute, klass: 'success' | 'error' = 'success'): void {
    const bytes = serializeStun(
      { method: BINDING, klass, transactionId: request.transactionId, attributes: [attribute] },
      { integrityKey: shortTermKey(this.pwd), fingerprint: true },
    );
    this.options.send(bytes, to, via);
  }

  private setState(state: IceState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onStateChange?.(state);
  }

  /** For the call's quality panel and tests. */
  describe(): { state: IceState; role: IceRole; pairs: { local: string; remote: string; state: PairState; nominated: boolean }[] } {
    return {
      state: this.state,
      role: this.role,
      pairs: this.pairs.map((p) => ({ local: `${p.local.type} ${addressKey(p.local)}`, remote: `${p.remote.type} ${addressKey(p.remote)}`, state: p.state, nominated: p.nominated })),
    };
  }
}
