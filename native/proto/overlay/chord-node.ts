// A Chord node (Stoica et al. 2001) whose messages are the overlay operations of
// wire/overlay/messages.ts. It never touches a socket or a clock: requests go through the
// injected OverlayTransport and time through the TimerHost, so the same code runs in the
// engine over SIP and in the discrete-event simulator (test/sim) over a simulated network.
//
// Routing is iterative: the node that looks a key up asks each hop in turn for a closer node.
// The querier sees every hop, so it can time out a dead one, avoid it and go on from its own
// table; a recursive lookup would lose the path at the dead hop and need end-to-end retries.
// The price is a round trip to the querier per hop (measured in bench/overlay).
import { isNodeRef, successorDigest, SYNC_BATCH, type NodeRef, type OpRequest, type OpResponse, type OverlayOp, type StoreResult } from '../../wire/overlay/messages.js';
import { addId, idFromHex, idToHex, inHalfOpenInterval, inOpenInterval, RING_SIZE, ringDistance, type NodeId } from '../../wire/overlay/node-id.js';
import { recordDigest, verifyRecord, type OverlayRecord, type RecordType } from '../../wire/overlay/record.js';
import type { TimerHandle, TimerHost } from '../sip/timers.js';
import type { RecordStore } from './record-store.js';
import { IdCheck } from './id-check.js';
import { inFingerInterval, nearestCandidate, RttEstimates } from './proximity.js';
import { idOf, RoutingTable } from './routing-table.js';

export class OverlayRequestError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable' | 'rejected',
    message: string,
  ) {
    super(message);
    this.name = 'OverlayRequestError';
  }
}

/** Sends one operation to a node and resolves with its answer, or rejects with OverlayRequestError. */
export interface OverlayTransport {
  request<O extends OverlayOp>(to: { host: string; port: number; id?: string }, op: O, body: OpRequest<O>, timeoutMs: number): Promise<OpResponse<O>>;
}

export interface ChordConfig {
  stabilizeMs: number;
  fixFingersMs: number;
  checkPredecessorMs: number;
  replicateMs: number;
  requestTimeoutMs: number;
  /** Copies of every record: the responsible node and its next replicas-1 successors. */
  replicas: number;
  minSuccessors: number;
  maxHops: number;
  /** How long a node that failed to answer is avoided. */
  avoidMs: number;
  /**
   * While a node's neighbourhood stays the same, its stabilize interval doubles after each quiet
   * round, up to this many times stabilizeMs; any change brings it back to stabilizeMs at once.
   */
  stabilizeBackoff: number;
  /**
   * How often a node asks one neighbour it dropped as dead whether it is alive in another ring
   * (a partition, or a false alarm under load, can split a ring in two that stabilize never joins
   * again). Default: 30 stabilize periods.
   */
  ringCheckMs?: number;
  /**
   * Proximity neighbour selection: among the nodes a node knows in a finger's interval, route
   * through the one with the lowest measured RTT (proximity.ts). Default on.
   */
  proximity?: boolean;
  /**
   * How long a node caught hiding records (a "not found", or a forged record, while another
   * holder of the key had a valid one) is kept out of routing. Default 10 minutes.
   */
  suspectMs?: number;
  /**
   * Zero bits a node's ID proof must show (wire/overlay/id-puzzle.ts): network-wide, every node
   * of an overlay must use the same value. Default 19: about 2 s of one core (docs/hostile-peers.md, bench `sybil`).
   */
  idDifficulty: number;
  /** Zero bits a name claim's proof of work must show; network-wide like idDifficulty. Default 18: about 1 s of one core. */
  nameDifficulty: number;
  /** false: node references are taken without checking their ID proof (only the simulator's rings of hashed counters). */
  verifyIds: boolean;
}

export const DEFAULT_CHORD_CONFIG: ChordConfig = {
  stabilizeMs: 1_000,
  fixFingersMs: 500,
  checkPredecessorMs: 2_000,
  replicateMs: 10_000,
  requestTimeoutMs: 2_000,
  replicas: 3,
  minSuccessors: 3,
  maxHops: 32,
  avoidMs: 30_000,
  stabilizeBackoff: 4,
  idDifficulty: 19,
  nameDifficulty: 18,
  verifyIds: true,
};

export interface LookupResult {
  /** The key's successor: the node responsible for it. */
  node: NodeRef;
  /** The nodes after it, where its replicas live. */
  successors: NodeRef[];
  hops: number;
  /** The node that answered `done` (absent when our own table did): its successor pointer covers the key. */
  via?: NodeRef;
}

export class LookupError extends Error {
  readonly code = 'LOOKUP_FAILED';
}

export interface ChordNodeOptions {
  self: NodeRef;
  transport: OverlayTransport;
  timers: TimerHost;
  store: RecordStore;
  now(): number;
  config?: Partial<ChordConfig>;
  /** For jitter; the simulator passes a seeded one. */
  random?: () => number;
  /** Told when the routing state changes (for the Network screen). */
  onChange?(): void;
  /** Told once per merge this node takes part in (the owner of a registration re-stores it). */
  onMerge?(foreign: NodeRef): void;
}

/** What `mergeWith` found: the contact is this node, a member of our own ring, or of another ring. */
/** `same-ring-unchecked`: the contact is in our ring, but looking our successor up through it failed. */
export type MergeOutcome = 'self' | 'same-ring' | 'same-ring-unchecked' | 'merging';

/** How long a node remembers a merge hint, so that it passes each one on once. */
const MERGE_HINT_MEMORY_MS = 60_000;
/** At most this many distinct merge hints are passed on per MERGE_HINT_MEMORY_MS (one merge brings two: one per ring). */
const MERGE_HINTS_PER_MEMORY = 8;
/** How many holders given records after a "not found" (missingFrom) are remembered at most. */
const GIVEN_MEMORY = 4_096;
/** How many nodes stabilize may step back through in one round while a merge is recent. */
const MERGE_WALK_STEPS = 8;
/** Stray keys placed per replication round while a merge is recent (16 otherwise), and how many lookups at once. */
const MERGE_REBALANCE_KEYS = 1_024;
const MERGE_REBALANCE_PARALLEL = 8;
/** After a merge hint, records are re-placed once the ring has had this many stabilization rounds. */
const MERGE_SETTLE_ROUNDS = 3;
/** How many nodes a finger check steps back through (nodes that joined before the finger) before it looks the start up. */
const FINGER_WALK_STEPS = 3;
/** How many members a join tries to go through (the bootstrap, then members it met) before it fails. */
const JOIN_ATTEMPTS = 4;
/** Stabilize rounds in a row that change nothing before its interval starts to grow. */
const QUIET_ROUNDS_BEFORE_BACKOFF = 1;
/** Nodes in a finger's interval considered for it (the node responsible for its start and those after it). */
const PNS_CANDIDATES = 8;
/** How long a finger's candidates are kept before they are asked for again (while the node responsible for its start stays the same). */
const PNS_CANDIDATES_MS = 10 * 60_000;
/** Candidates without an RTT measured by other traffic that are pinged each time the candidates are fetched. */
const PNS_PINGS = 1;
/** Check-predecessor periods without a predecessor before a node looks for the node whose successor pointer should name it. */
const ORPHAN_PERIODS = 2;
/** Dropped nodes remembered for the ring check (the newest kept). */
const DEPARTED_MEMORY = 16;
/** A dropped node that does not answer the ring check is asked again after twice as long, this many times, then forgotten (about an hour in all). */
const DEPARTED_TRIES = 7;
/** A merge hint names a node of the other ring; a ping carries it (older nodes ignore the field). */
const mergePing = (node: NodeRef): OpRequest<'ping'> => ({ merge: node });

export class ChordNode {
  readonly table: RoutingTable;
  readonly config: ChordConfig;
  readonly stats = { lookups: 0, lookupFailures: 0, hops: 0, requestsSent: 0, requestFailures: 0, requestsHandled: 0, mergeProbes: 0, mergeAdoptions: 0, orphanHints: 0, implausibleAnswers: 0, suspectsMarked: 0, defendedFetches: 0, defendedPuts: 0, replicaRepairs: 0, fetchRepairs: 0 };
  private readonly timers: Array<TimerHandle | undefined> = [];
  private readonly oneOffTimers = new Set<TimerHandle>();
  private running = false;
  private busy = { stabilize: false, fingers: false, predecessor: false, replicate: false };
  private nextFinger = 0;
  private generation = 0;
  private rebalanceCursor = 0;
  /**
   * When a primary last pushed each replica record here (see rebalance), by recordId(): per
   * record, not per key, so a record the primary lacks is not hidden by the ones it pushes.
   */
  private readonly confirmed = new Map<string, number>();
  /**
   * Holders that answered "not found" for a key while another holder had it, and were given the
   * records then (`node id key` -> when, and whether they took them): see missingFrom.
   */
  private readonly given = new Map<string, { at: number; taken: boolean; strikes: number }>();
  /** Nodes of other rings this node has passed on as merge hints, and until when it ignores them again. */
  private readonly mergeHints = new Map<string, number>();
  private readonly random: () => number;
  /** The interval of the next stabilize round (grows while the neighbourhood is quiet). */
  private stabilizeDelay = 0;
  private quietRounds = 0;
  private stabilizeTimer?: TimerHandle;
  private stabilizeDueAt = 0;
  /** The successor list our successor last sent, and its digest (sent back as `known`). */
  private fromSuccessor?: { id: string; digest: string; successors: NodeRef[] };
  /** For each finger, the node that followed it when it was found: where to look once it dies. */
  private readonly fingerNext: Array<NodeRef | undefined> = [];
  /** The node responsible for each finger's start (what the finger would be without proximity): where its refresh starts. */
  private readonly fingerBase: Array<NodeRef | undefined> = [];
  /** Each finger's candidates for proximity, and when they were fetched. */
  private readonly fingerCandidates: Array<{ nodes: NodeRef[]; at: number } | undefined> = [];
  /** RTTs of this node's own requests, for proximity neighbour selection. */
  readonly rtts = new RttEstimates();
  /** Checks the ID proof of every node reference that arrives, and counts the ones refused. */
  readonly ids: IdCheck;
  /** When our predecessor last asked us anything: its stabilize proves it alive, no ping needed. */
  private predecessorHeardAt = -Infinity;
  /** Since when this node has had no predecessor (checked every checkPredecessorMs). */
  private orphanedSince?: number;
  /** Nodes dropped from the table as dead, oldest first: the ring check asks each at `next`, backing off. */
  private readonly departed = new Map<string, { node: NodeRef; next: number; tries: number }>();
  /** When this node last caught a node hiding records: until suspectMs after, puts take the defended lookup. */
  private lieSeenAt = -Infinity;

  constructor(private readonly options: ChordNodeOptions) {
    this.config = { ...DEFAULT_CHORD_CONFIG, ...options.config };
    this.table = new RoutingTable(options.self, this.config.minSuccessors);
    this.random = options.random ?? Math.random;
    this.ids = new IdCheck(this.config.idDifficulty, this.config.verifyIds);
  }

  get self(): NodeRef {
    return this.options.self;
  }
  get store(): RecordStore {
    return this.options.store;
  }
  get joined(): boolean {
    return this.running;
  }

  /** Starts a new ring of one. */
  create(): void {
    this.table.predecessor = undefined;
    this.table.successors = [];
    this.startMaintenance();
  }

  /**
   * Joins the ring that `bootstrap` belongs to (Chord's join: find our successor through it).
   * A lookup that fails on the way (a hop died: churn) starts again through another member it met,
   * a few times, before the join fails.
   */
  async join(bootstrap: { host: string; port: number }): Promise<void> {
    const met: NodeRef[] = [];
    const tried = new Set<string>();
    let through: { host: string; port: number } | undefined = bootstrap;
    let lastError: unknown;
    for (let attempt = 0; through && attempt < JOIN_ATTEMPTS; attempt++) {
      tried.add(`${through.host}:${through.port}`);
      try {
        return await this.joinThrough(through, met);
      } catch (error) {
        lastError = error;
      }
      through = met.find((n) => n.id !== this.self.id && !tried.has(`${n.host}:${n.port}`));
    }
    throw lastError;
  }

  private async joinThrough(bootstrap: { host: string; port: number }, met: NodeRef[]): Promise<void> {
    const first = await this.send(bootstrap, 'find-closest', { key: this.self.id });
    met.push(first.node, ...first.successors);
    // Not joined yet, our own table knows nobody: a hop that fails is routed round by the hop before it, else the join starts again.
    const found = await this.lookupFrom(idFromHex(this.self.id)!, first, [], { remoteOnly: true, origin: bootstrap, met });
    if (found.node.id === this.self.id) throw new LookupError('the bootstrap node answered with this node itself');
    // The successor found must see us between its predecessor and itself: else the answer was stale.
    const { predecessor } = await this.send(found.node, 'neighbours', { brief: true });
    if (predecessor && predecessor.id !== this.self.id && !inOpenInterval(this.table.selfId, idOf(predecessor), idOf(found.node))) {
      met.unshift(predecessor);
      throw new LookupError(`${found.node.host}:${found.node.port} is not our successor: its predecessor is past us`);
    }
    this.table.predecessor = undefined;
    this.table.setSuccessors(found.node, found.successors);
    this.startMaintenance();
    // Tell the successor at once rather than at the next stabilization: it hands us our records.
    await this.send(found.node, 'notify', { node: this.self }).catch(() => undefined);
    this.changed();
  }

  /** Stops maintenance without telling anyone (a crash, as far as the ring can tell). */
  stop(): void {
    this.running = false;
    for (const t of this.timers) if (t) this.options.timers.clear(t);
    this.timers.length = 0;
    for (const t of this.oneOffTimers) this.options.timers.clear(t);
    this.oneOffTimers.clear();
  }

  /** A graceful leave: hand our records to our successor and tell both neighbours. */
  async leave(): Promise<void> {
    const { successor, predecessor } = this.table;
    this.stop();
    if (!successor) return;
    const mine = this.store.all().filter((r) => this.table.isResponsible(idFromHex(r.key)!));
    const body = { node: this.self, predecessor, successors: this.table.successors };
    // A leave must not hold up quitting: short deadlines, and a crash-like exit if they pass.
    const quick = Math.min(this.config.requestTimeoutMs, 500);
    await Promise.allSettled([
      ...storeBatches(mine).map((records) => this.send(successor, 'store', { records, replica: false }, quick)),
      this.send(successor, 'leave', body, quick),
      predecessor && predecessor.id !== successor.id ? this.send(predecessor, 'leave', body, quick) : Promise.resolve({}),
    ]);
  }

  /** Finds the node responsible for `key`, iteratively. */
  async lookup(key: NodeId): Promise<LookupResult> {
    return this.lookupFrom(key, this.findClosestLocal(key));
  }

  /**
   * A lookup that survives lying nodes (after S/Kademlia): `paths` iterative lookups at once, each
   * from its own first hop and through nodes no other path visits, each step checked (a closer
   * node must lie between the one that named it and the key; a "done" must name a node after the
   * key, and one suspiciously far from the node that answered, more than SUSPICIOUS_GAPS mean
   * gaps, must be named by a second node of the path before it is believed). Of the paths'
   * answers the node closest after the key wins: a liar can name a node further on, not conjure
   * one closer than the truth.
   */
  async lookupDisjoint(key: NodeId, paths = DISJOINT_PATHS): Promise<LookupResult> {
    const local = this.findClosestLocal(key);
    if (local.done) return this.lookupFrom(key, local);
    const first = this.table.precedingNodes(key, this.options.now(), paths);
    const claimed = new Map<string, number>();
    const results = await Promise.allSettled(first.map((node, index) => this.lookupFrom(key, { done: false, node, successors: [] }, [], { path: { claimed, index, named: new Map() } })));
    const found = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (!found.length) throw (results[0] as PromiseRejectedResult | undefined)?.reason ?? new LookupError(`lookup of ${idToHex(key)}: no path`);
    const best = found.reduce((b, r) => (ringDistance(key, idOf(r.node)) < ringDistance(key, idOf(b.node)) ? r : b));
    // A liar may name the right node (a fellow liar responsible for the key) with accomplices as
    // its successors, where the replicas are. The successor lists of every answer naming it are
    // merged in ring order: the nearest nodes after it, which a liar cannot make further.
    const after = idOf(best.node);
    const successors = new Map<string, NodeRef>();
    for (const r of found) if (r.node.id === best.node.id) for (const n of r.successors) if (n.id !== best.node.id) successors.set(n.id, n);
    const ordered = [...successors.values()].sort((a, b) => (ringDistance(after, idOf(a)) < ringDistance(after, idOf(b)) ? -1 : 1));
    return { ...best, successors: ordered.slice(0, Math.max(best.successors.length, this.config.replicas + 1)) };
  }

  /** Whether one step of a disjoint lookup path is believable (see lookupDisjoint). */
  private plausible(key: NodeId, from: NodeRef | { id?: string }, answer: OpResponse<'find-closest'>, named: Map<string, Set<string>>): boolean {
    if (!from.id) return true;
    const fromId = idFromHex(from.id)!;
    if (!answer.done) return inOpenInterval(idOf(answer.node), fromId, key);
    if (answer.node.id !== from.id && !inHalfOpenInterval(key, fromId, idOf(answer.node))) return false;
    const gap = this.meanGap();
    // An honest "done" comes from the node just before the key and names its own successor: the
    // two are one node gap apart. A liar met anywhere earlier on the path spans much more.
    const span = answer.node.id === from.id ? ringDistance(key, fromId) : ringDistance(fromId, idOf(answer.node));
    if (gap === undefined || span <= gap * BigInt(SUSPICIOUS_GAPS)) return true;
    const by = named.get(answer.node.id) ?? new Set<string>();
    by.add(from.id);
    named.set(answer.node.id, by);
    return by.size >= 2;
  }

  /** The mean ID distance between neighbouring nodes, measured over our predecessor and successors. */
  private meanGap(): bigint | undefined {
    const pred = this.table.predecessor;
    const last = this.table.successors.at(-1);
    if (!pred || !last || pred.id === last.id) return undefined;
    return ringDistance(idOf(pred), idOf(last)) / BigInt(this.table.successors.length + 1);
  }

  private async lookupFrom(
    key: NodeId,
    firstStep: OpResponse<'find-closest'>,
    avoid: string[] = [],
    options: {
      remoteOnly?: boolean;
      origin?: { host: string; port: number };
      met?: NodeRef[];
      /** One path of lookupDisjoint: the nodes each path visits (no other path may), and the far nodes named so far. */
      path?: { claimed: Map<string, number>; index: number; named: Map<string, Set<string>> };
    } = {},
  ): Promise<LookupResult> {
    this.stats.lookups++;
    let step = firstStep;
    let hops = 0;
    let failures = 0;
    const dead = new Set<string>(avoid);
    // The node that gave the first step, when it is not us: asked for a way round a first hop that fails.
    let lastGood: { host: string; port: number; id?: string } | undefined = options.origin;
    let via: NodeRef | undefined;
    while (!step.done) {
      if (hops + failures >= this.config.maxHops) {
        this.stats.lookupFailures++;
        throw new LookupError(`lookup of ${idToHex(key)} took more than ${this.config.maxHops} steps`);
      }
      const next = step.node;
      try {
        const path = options.path;
        if (path) {
          const owner = path.claimed.get(next.id);
          if (owner !== undefined && owner !== path.index) throw new LookupError('another path visits this node');
          path.claimed.set(next.id, path.index);
        }
        const answer = await this.send(next, 'find-closest', { key: idToHex(key), ...(dead.size ? { avoid: [...dead] } : {}) });
        if (path && !this.plausible(key, next, answer, path.named)) {
          this.stats.implausibleAnswers++;
          throw new LookupError('implausible answer');
        }
        step = answer;
        lastGood = next;
        via = next;
        hops++;
        options.met?.push(step.node);
      } catch {
        // The hop is dead or lost. Others still route to it, so ask the hop that sent us there
        // for another way round it (the avoid list), else go on from our own table without it.
        failures++;
        dead.add(next.id);
        // A joining node's own table knows nobody: only the hop before can route round the failure.
        if (options.remoteOnly && !lastGood) throw new LookupError(`lookup of ${idToHex(key)}: ${next.host}:${next.port} did not answer`);
        step = options.remoteOnly ? step : this.findClosestLocal(key, dead);
        if (lastGood) {
          try {
            step = await this.send(lastGood, 'find-closest', { key: idToHex(key), avoid: [...dead] });
            via = undefined;
          } catch {
            if (lastGood.id) dead.add(lastGood.id);
            lastGood = undefined;
          }
        }
      }
    }
    this.stats.hops += hops;
    return { node: step.node, successors: step.successors, hops, ...(via ? { via } : {}) };
  }

  /** One lookup step answered from this node's own table. */
  private findClosestLocal(key: NodeId, avoid?: Set<string>): OpResponse<'find-closest'> {
    const now = this.options.now();
    // A lookup's answer names the responsible node and the few after it: where its replicas are,
    // and where to go when it is down. The rest of the list would only cost bytes on every hop.
    const after = (list: NodeRef[]) => list.slice(0, this.config.replicas + 1);
    if (this.table.isResponsible(key)) return { done: true, node: this.self, successors: after(this.table.successors) };
    const successor = this.table.successors.find((s) => !this.table.isSuspect(s.id, now) && !avoid?.has(s.id));
    if (!successor) return { done: true, node: this.self, successors: [] };
    if (inHalfOpenInterval(key, this.table.selfId, idOf(successor))) {
      return { done: true, node: successor, successors: after(this.table.successors.filter((s) => s.id !== successor.id)) };
    }
    const next = this.table.closestPreceding(key, now, avoid);
    if (next.id === this.self.id) return { done: true, node: successor, successors: after(this.table.successors.filter((s) => s.id !== successor.id)) };
    return { done: false, node: next, successors: [] };
  }

  // ---- storing and fetching records --------------------------------------------------------
  //
  // Records are signed, so a liar cannot forge one; it can hide one: route a lookup to itself or
  // accomplices and answer "not found", or take a write and drop it. So a fetch does not end at
  // one "not found" (the key's other holders are asked, and an empty answer from every holder
  // sends a lookup over disjoint paths), a holder that answered "not found" while another held a
  // valid record becomes a suspect (kept out of routing for suspectMs), and a put checks the
  // replicas itself rather than trusting the primary to have copied the records there.

  /**
   * Stores records at the node responsible for their key (trying its replicas if it is down),
   * then makes sure the key's replicas hold them too (see checkReplicas).
   */
  async put(records: OverlayRecord[], source?: string): Promise<StoreResult> {
    const result: StoreResult = { stored: 0, rejected: [] };
    for (const [key, group] of groupByKey(records)) {
      const found = await this.lookupForPut(idFromHex(key)!);
      const holders = [found.node, ...found.successors].slice(0, this.config.replicas);
      // In batches that fit one SIP message (a voice message's chunks weigh hundreds of KiB), in order.
      for (const batch of storeBatches(group)) {
        const outcome = await this.firstAnswer(holders, async (node) => ({
          node,
          answer: node.id === this.self.id ? await this.storeHere(batch, false, source !== undefined ? { source } : undefined) : await this.send(node, 'store', { records: batch, replica: false }),
        }));
        result.stored += outcome.answer.stored;
        result.rejected.push(...outcome.answer.rejected);
        const refused = new Set(outcome.answer.rejected.map((r) => `${r.key} ${r.type}`));
        const kept = batch.filter((r) => !refused.has(`${r.key} ${r.type}`));
        await this.checkReplicas(holders.filter((n) => n.id !== outcome.node.id), kept);
      }
    }
    return result;
  }

  /**
   * The holders a put writes to: a plain lookup while the ring looks honest; the defended one
   * when this node caught a liar lately, or when the holders named lie further after the key
   * than honest ones would (the last of them more than replicas + SUSPICIOUS_GAPS mean gaps).
   */
  private async lookupForPut(key: NodeId): Promise<LookupResult> {
    const now = this.options.now();
    if (now - this.lieSeenAt < this.suspectMs) {
      this.stats.defendedPuts++;
      return this.lookupDisjoint(key);
    }
    const found = await this.lookup(key);
    const last = [found.node, ...found.successors].slice(0, this.config.replicas).at(-1)!;
    const gap = this.meanGap();
    if (gap === undefined || ringDistance(key, idOf(last)) <= gap * BigInt(this.config.replicas + SUSPICIOUS_GAPS)) return found;
    this.stats.defendedPuts++;
    return this.lookupDisjoint(key).catch(() => found);
  }

  /**
   * A put's second half: asks each replica (`sync`, digests only) whether it holds what the
   * primary took, and writes what it lacks there directly. An honest primary has copied them
   * before answering, so this costs one small request per replica; a primary that drops
   * records, or does not replicate, no longer decides alone whether they survive.
   */
  private async checkReplicas(replicas: NodeRef[], records: OverlayRecord[]): Promise<void> {
    if (!records.length) return;
    const byDigest = new Map(records.map((r) => [digestOf(r), r]));
    await Promise.allSettled(
      replicas.map(async (node) => {
        const missing = node.id === this.self.id ? records.filter((r) => !this.store.get(r.key, r.type, r.slot).some((x) => digestOf(x) === digestOf(r))) : (await this.send(node, 'sync', { have: [...byDigest.keys()] })).missing.flatMap((d) => byDigest.get(d) ?? []);
        if (!missing.length) return;
        this.stats.replicaRepairs++;
        if (node.id === this.self.id) await this.storeHere(missing, true);
        else for (const batch of storeBatches(missing)) await this.send(node, 'store', { records: batch, replica: false });
      }),
    );
  }

  /** Fetches the live, validly signed records under `key` (see findRecords). */
  async get(key: NodeId, type?: RecordType, slot?: string, accept?: (records: OverlayRecord[]) => boolean, onForged?: () => void): Promise<OverlayRecord[]> {
    return (await this.findRecords(key, type, slot, accept, onForged)).records;
  }

  /**
   * Finds the records under `key` and the lookup that led to them. A plain lookup first (one
   * path, a few requests), and its holders asked (fetchChecked). When they hold nothing, or the
   * plain lookup fails, the key is looked up again over disjoint paths and the holders found
   * there that were not yet asked are asked: an empty answer is what a liar gives, so it is not
   * believed from one path. A node whose "done" sent us to holders further from the key than the
   * ones that held the record hid it by routing: it becomes a suspect too.
   */
  async findRecords(
    key: NodeId,
    type?: RecordType,
    slot?: string,
    accept?: (records: OverlayRecord[]) => boolean,
    /** Told when a holder sent a record whose signature fails (it is never returned). */
    onForged?: () => void,
  ): Promise<{ found: LookupResult; records: OverlayRecord[] }> {
    const asked = new Set<string>();
    let plain: LookupResult | undefined;
    try {
      plain = await this.lookup(key);
    } catch {
      // a lookup that fails is one more reason to take the disjoint paths
    }
    if (plain) {
      const records = await this.fetchChecked(plain, key, { type, slot, accept, onForged }, asked);
      if (records.length) return { found: plain, records };
    }
    this.stats.defendedFetches++;
    let defended: LookupResult;
    try {
      defended = await this.lookupDisjoint(key);
    } catch (error) {
      if (plain) return { found: plain, records: [] };
      throw error;
    }
    const records = await this.fetchChecked(defended, key, { type, slot, accept, onForged }, asked);
    if (records.length && plain?.via && ringDistance(key, idOf(defended.node)) < ringDistance(key, idOf(plain.node))) {
      this.suspect(plain.via, `named ${plain.node.host}:${plain.node.port} as responsible for ${idToHex(key)}, which a closer node held`);
    }
    return { found: records.length || !plain ? defended : plain, records };
  }

  /**
   * Asks a lookup's holders (the responsible node and its replicas, those not in `asked`) for
   * the records under `key`, keeping only live, validly signed ones for that key. The primary
   * first: a valid answer from it ends the fetch. Otherwise every other holder at once, and
   * cross-checked: when one holds a valid record (that `accept` takes), every holder that
   * answered "not found", or sent a forged record, becomes a suspect. `accept` judges an answer
   * (a voice chunk must match its digest); one it refuses is not taken, and not held against its sender.
   */
  private async fetchChecked(
    found: LookupResult,
    key: NodeId,
    filter: { type?: RecordType; slot?: string; accept?: (records: OverlayRecord[]) => boolean; onForged?: () => void },
    asked: Set<string>,
  ): Promise<OverlayRecord[]> {
    const hex = idToHex(key);
    // A suspect is not asked: its "not found" is worth nothing, and the other holders are asked anyway.
    const now = this.options.now();
    const holders = [found.node, ...found.successors].slice(0, this.config.replicas).filter((n) => !asked.has(n.id) && !this.table.isDistrusted(n.id, now));
    const request = { key: hex, ...(filter.type ? { type: filter.type } : {}), ...(filter.slot !== undefined ? { slot: filter.slot } : {}) };
    const ask = async (node: NodeRef): Promise<{ node: NodeRef; valid: OverlayRecord[]; forged: boolean } | undefined> => {
      asked.add(node.id);
      try {
        const records = node.id === this.self.id ? this.store.get(hex, filter.type, filter.slot) : (await this.send(node, 'fetch', request)).records;
        const at = this.options.now();
        const valid = records.filter((r) => r.key === hex && r.expires > at && verifyRecord(r));
        return { node, valid, forged: records.some((r) => r.key === hex && r.expires > at && !valid.includes(r)) };
      } catch {
        return undefined;
      }
    };
    const taken = (a: { valid: OverlayRecord[] } | undefined) => a !== undefined && a.valid.length > 0 && (!filter.accept || filter.accept(a.valid));
    const [primary, ...replicas] = holders;
    if (!primary) return [];
    const first = await ask(primary);
    if (first && taken(first) && !first.forged) return first.valid;
    const answers = [first, ...(await Promise.all(replicas.map(ask)))];
    if (answers.some((a) => a?.forged)) filter.onForged?.();
    const held = answers.find((a) => taken(a) && !a!.forged);
    if (!held) return answers.find(taken)?.valid ?? [];
    // Only answers for the same question are compared: a slot or type asked for narrows both alike.
    for (const a of answers) {
      if (!a || a === held) continue;
      if (a.forged) this.suspect(a.node, `sent a record for ${hex} whose signature does not verify`);
      else if (!a.valid.length) this.missingFrom(a.node, a.node.id === found.node.id, hex, held);
    }
    return held.valid;
  }

  /**
   * A holder answered "not found" while another held a valid record. An honest node says that
   * too, for a while, when it became responsible for the key just now (a join, a neighbour lost)
   * and the records have not reached it: so the first time it is given them (read repair), and
   * only a "not found" after it took them (or a third one, if it refused them) makes it a suspect.
   */
  private missingFrom(node: NodeRef, primary: boolean, hex: string, held: { node: NodeRef; valid: OverlayRecord[] }): void {
    const now = this.options.now();
    const mark = `${node.id} ${hex}`;
    const before = this.given.get(mark);
    const entry = before && now - before.at < this.suspectMs ? before : { at: now, taken: false, strikes: 0 };
    entry.strikes++;
    if (entry.taken || entry.strikes >= 3) {
      this.given.delete(mark);
      this.suspect(node, `answered "not found" for ${hex} again after it was given the record (${held.node.host}:${held.node.port} held it)`);
      return;
    }
    this.given.delete(mark);
    this.given.set(mark, entry);
    if (this.given.size > GIVEN_MEMORY) this.given.delete(this.given.keys().next().value!);
    this.stats.fetchRepairs++;
    void this.send(node, 'store', { records: held.valid, replica: !primary }).then(
      (answer) => {
        if (answer.stored > 0) entry.taken = true;
      },
      () => undefined,
    );
  }

  /** The nodes kept out of routing for hiding records, until when, and why. */
  suspects(): Array<{ node: NodeRef; until: number; reason: string }> {
    return this.table.distrustedNodes(this.options.now());
  }

  /**
   * Keeps a node caught hiding records out of this node's routing for suspectMs: no finger,
   * successor choice or lookup step goes to it (it stays in the ring: others may still use it).
   */
  suspect(node: NodeRef, reason: string): void {
    if (node.id === this.self.id) return;
    const now = this.options.now();
    if (!this.table.isDistrusted(node.id, now)) this.stats.suspectsMarked++;
    this.table.distrust(node, now + this.suspectMs, reason);
    this.lieSeenAt = now;
    this.options.onChange?.();
  }

  private get suspectMs(): number {
    return this.config.suspectMs ?? 10 * 60_000;
  }

  private async firstAnswer<T>(nodes: NodeRef[], ask: (node: NodeRef) => Promise<T>): Promise<T> {
    let last: unknown = new LookupError('no node to ask');
    for (const node of nodes) {
      try {
        return await ask(node);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  /**
   * Stores locally; as the responsible node, copies to the replicas before answering. `from`: who
   * sent the write (absent for our own): a node keeps only keys it holds (as primary, or as a
   * replica of the sender), and a primary write counts against its source network's quota.
   */
  private async storeHere(records: OverlayRecord[], replica: boolean, from?: { sender?: NodeRef; source?: string }): Promise<StoreResult> {
    const result: StoreResult = { stored: 0, rejected: [] };
    const accepted: OverlayRecord[] = [];
    const now = this.options.now();
    // A hand-over brings what a neighbour held: from our successor when we became its predecessor,
    // from our predecessor when it leaves. Take it all (the owner quota still holds).
    const handOver = !replica && from?.sender !== undefined && (from.sender.id === this.table.successor?.id || from.sender.id === this.table.predecessor?.id);
    for (const r of records) {
      if (from && !handOver && !this.mayHold(idFromHex(r.key)!, replica, from.sender)) {
        this.store.countRefused('not-responsible');
        result.rejected.push({ key: r.key, type: r.type, reason: 'not-responsible' });
        continue;
      }
      const outcome = this.store.put(r, !replica && !handOver ? from?.source : undefined);
      if (outcome.ok) {
        if (replica) this.confirmed.set(recordId(r), now);
        result.stored++;
        if (outcome.changed) accepted.push(r);
      } else {
        result.rejected.push({ key: r.key, type: r.type, reason: outcome.reason });
      }
    }
    if (!replica && accepted.length) {
      const replicaNodes = this.table.successors.slice(0, this.config.replicas - 1);
      const batches = storeBatches(accepted);
      await Promise.allSettled(
        replicaNodes.map(async (n) => {
          for (const records of batches) await this.send(n, 'store', { records, replica: true });
        }),
      );
    }
    if (accepted.length) this.changed();
    return result;
  }

  /**
   * Whether a write from another node for `key` belongs here. A primary write: the key is ours
   * ((predecessor, self]), or our predecessor has not been heard from lately (it may be dead, and
   * its keys ours; a put falls back on the replicas then). A replica write: the sender is the
   * key's primary, so the key lies between us and it going round ((self, sender]), and the sender
   * is one of the few nodes before us. We know only one of them, so "few" is by distance: within
   * REPLICA_REACH mean gaps between nodes per replica (the gaps measured over our predecessor and
   * successors); gaps that wide by chance are rarer than 1 in 10,000.
   */
  private mayHold(key: NodeId, replica: boolean, sender: NodeRef | undefined): boolean {
    if (replica) {
      if (!sender || sender.id === this.self.id || !inHalfOpenInterval(key, this.table.selfId, idOf(sender))) return false;
      const gap = this.meanGap();
      return gap === undefined || ringDistance(idOf(sender), this.table.selfId) <= gap * BigInt(REPLICA_REACH * this.config.replicas);
    }
    const pred = this.table.predecessor;
    if (!pred || inHalfOpenInterval(key, idOf(pred), this.table.selfId)) return true;
    if (this.options.now() - this.predecessorHeardAt > PREDECESSOR_SILENT_PERIODS * this.config.checkPredecessorMs) return true;
    // A put's check of the replicas (checkReplicas) writes here directly what the primary did not
    // copy: a key shortly before our predecessor is ours as a replica. Same reach as a replica write.
    const gap = this.meanGap();
    return gap !== undefined && ringDistance(key, this.table.selfId) <= gap * BigInt(REPLICA_REACH * (this.config.replicas - 1));
  }

  /** A replica's side of `sync`: which of the listed records it lacks; the ones it has are confirmed. */
  private onSync(have: string[]): OpResponse<'sync'> {
    const now = this.options.now();
    const mine = new Map(this.store.all().map((r) => [digestOf(r), r]));
    const missing: string[] = [];
    for (const d of have) {
      const r = mine.get(d);
      if (r) this.confirmed.set(recordId(r), now);
      else missing.push(d);
    }
    return { missing };
  }

  // ---- merging two rings --------------------------------------------------------------------
  //
  // Two rings formed apart (two LAN segments, or a LAN and a bootstrap node) are each correct on
  // their own, and stabilize alone never joins them: nothing in either points across. Each node's
  // successor in the union is the closer of its successor in its own ring and its successor in
  // the other. So every node of both rings looks its own ID up in the other ring (a "merge probe"),
  // adopts what it finds when that is closer, and notifies it, so the other ring's stabilize
  // finds this node too. Every node must hear of the merge for that: the node that learned of
  // the other ring passes a hint naming a node of the other ring to everything in its routing
  // table, which passes it on once, and the other ring does the same the other way. A flood over
  // fingers and successors reaches the whole ring in about log2 N steps; each probe is one
  // lookup, and the probes run in parallel, so merging takes a few stabilization rounds whatever
  // the sizes. Records then move as on a join: a node that gets a closer predecessor hands it the
  // records it is now responsible for, and rebalance moves the rest.

  /**
   * Merges this node's ring with the one `contact` is in, if that is another ring. The contact is
   * one of us when a lookup of its ID in our ring names it, or, for a node that joined so lately
   * that our ring has not caught up, when a lookup of our ID through it names us. Rejects when the
   * contact or our own lookup fails: that tells nothing either way.
   *
   * Lookups can pass between two rings through a finger that still points across (a ring that
   * split under load keeps such fingers), so "same ring" may be only half true: our successor
   * pointer can still skip live nodes, in a small loop of its own. So a contact found in our ring
   * is also asked for our successor (as a merge probe does), and a closer one is adopted.
   */
  async mergeWith(contact: { host: string; port: number }): Promise<MergeOutcome> {
    const foreign = (await this.send(contact, 'ping', {})).node;
    if (foreign.id === this.self.id) return 'self';
    if (this.table.successors.length) {
      let same = (await this.lookup(idOf(foreign))).node.id === foreign.id;
      if (!same) same = (await this.lookupFrom(this.table.selfId, await this.send(foreign, 'find-closest', { key: this.self.id }))).node.id === this.self.id;
      if (same) {
        return (await this.checkSuccessorThrough(foreign)) ? 'same-ring' : 'same-ring-unchecked';
      }
    }
    // The contact passes the news through its own ring, naming us as the node to probe through.
    await this.send(foreign, 'ping', mergePing(this.self)).catch(() => undefined);
    await this.spreadMerge(foreign);
    return 'merging';
  }

  /** Looks our successor up through `contact` (our own ID avoided) and adopts it when it is closer than ours; false when the lookup failed. */
  private async checkSuccessorThrough(contact: NodeRef): Promise<boolean> {
    const key = addId(this.table.selfId, 1n);
    const avoid = [this.self.id];
    try {
      await this.adoptFromProbe(key, await this.send(contact, 'find-closest', { key: idToHex(key), avoid }), avoid);
      return true;
    } catch {
      return false;
    }
  }

  /** True while a merge this node took part in is recent. */
  private merging(now: number): boolean {
    for (const until of this.mergeHints.values()) if (until > now) return true;
    return false;
  }

  /**
   * Passes a merge hint on once (to every node in our table) and probes the other ring through
   * it. One ping sets off a flood of the whole ring, so a hint is passed on only when the node it
   * names answers, and only a few distinct hints are taken per minute.
   */
  private async spreadMerge(foreign: NodeRef): Promise<void> {
    if (!this.running || foreign.id === this.self.id) return;
    const now = this.options.now();
    for (const [id, until] of this.mergeHints) if (until <= now) this.mergeHints.delete(id);
    if (this.mergeHints.has(foreign.id) || this.mergeHints.size >= MERGE_HINTS_PER_MEMORY) return;
    this.mergeHints.set(foreign.id, now + MERGE_HINT_MEMORY_MS);
    // Taken before the probe changes the table: the successors this node may drop for a closer
    // one from the other ring still have to hear of the merge.
    const passOnTo = this.table.knownNodes().filter((n) => n.id !== foreign.id);
    this.stats.mergeProbes++;
    // The key just after our ID, with us avoided: once the rings touch, a node whose predecessor
    // is not yet right may still call itself responsible for it, or name us.
    const key = addId(this.table.selfId, 1n);
    const avoid = [this.self.id];
    let firstStep: OpResponse<'find-closest'>;
    try {
      firstStep = await this.send(foreign, 'find-closest', { key: idToHex(key), avoid });
    } catch {
      return;
    }
    for (const node of passOnTo) void this.send(node, 'ping', mergePing(foreign)).catch(() => undefined);
    this.options.onMerge?.(foreign);
    // Records move to their new holders once the ring has settled, not at the next replication.
    const settled = this.options.timers.set(MERGE_SETTLE_ROUNDS * this.config.stabilizeMs, () => {
      this.oneOffTimers.delete(settled);
      if (this.running) void this.replicate();
    });
    this.oneOffTimers.add(settled);
    await this.adoptFromProbe(key, firstStep, avoid).catch(() => undefined);
  }

  /**
   * Finishes the probe's lookup of our successor in the other ring; adopts what it names as
   * successor when it is closer than ours, and notifies it either way (it decides whether we are
   * its predecessor, and its predecessor in its old ring then finds us by stabilizing).
   */
  private async adoptFromProbe(key: NodeId, firstStep: OpResponse<'find-closest'>, avoid: string[]): Promise<void> {
    const found = await this.lookupFrom(key, firstStep, avoid);
    const candidate = found.node;
    if (candidate.id === this.self.id) return;
    const successor = this.table.successor;
    if (!successor || inOpenInterval(idOf(candidate), this.table.selfId, idOf(successor))) {
      const info = await this.send(candidate, 'neighbours', {});
      this.stats.mergeAdoptions++;
      if (this.table.mergeSuccessors([candidate, ...(info.successors ?? [])])) {
        this.changed();
        void this.replicate();
      }
    }
    await this.send(candidate, 'notify', { node: this.self }).catch(() => undefined);
  }

  // ---- answering requests ------------------------------------------------------------------

  /**
   * Answers an operation another node sent. `source`: the network it came from (record-store.ts
   * sourceNetwork), which the record store's source quota counts.
   */
  async handle<O extends OverlayOp>(op: O, request: OpRequest<O>, sender?: NodeRef, source?: string): Promise<OpResponse<O>> {
    this.stats.requestsHandled++;
    // Nodes without a valid ID proof are left out before anything below can take them.
    const body = this.ids.screenRequest(op, request);
    if (!body) return {} as OpResponse<O>;
    if (sender) {
      this.table.alive(sender.id);
      if (sender.id === this.table.predecessor?.id) this.predecessorHeardAt = this.options.now();
    }
    const b = body as Record<string, unknown>;
    switch (op) {
      case 'ping': {
        const hint = (body as OpRequest<'ping'>).merge;
        if (hint !== undefined && isNodeRef(hint)) void this.spreadMerge(hint);
        if ((body as OpRequest<'ping'>).stabilize === true) this.stabilizeNow();
        const successor = (body as OpRequest<'ping'>).successor;
        if (successor !== undefined && isNodeRef(successor)) void this.considerSuccessor(successor);
        return { node: this.self } as OpResponse<O>;
      }
      case 'find-closest':
        return this.findClosestLocal(idFromHex(b.key as string)!, Array.isArray(b.avoid) ? new Set(b.avoid as string[]) : undefined) as OpResponse<O>;
      case 'neighbours': {
        const ask = body as OpRequest<'neighbours'>;
        if (ask.notify === true && sender && this.ids.accepts(sender)) this.onNotify(sender);
        const digest = successorDigest(this.table.successors);
        const pred = this.table.predecessor;
        const answer: OpResponse<'neighbours'> = {
          ...(pred && sender && pred.id === sender.id ? { you: true } : pred ? { predecessor: pred } : {}),
          digest,
          ...(ask.known === digest || ask.brief === true ? {} : { successors: this.table.successors }),
        };
        return answer as OpResponse<O>;
      }
      case 'notify':
        this.onNotify(b.node as NodeRef);
        return {} as OpResponse<O>;
      case 'leave':
        this.onLeave(body as OpRequest<'leave'>);
        return {} as OpResponse<O>;
      case 'store':
        return (await this.storeHere(b.records as OverlayRecord[], b.replica as boolean, { sender, source })) as OpResponse<O>;
      case 'sync':
        return this.onSync((body as OpRequest<'sync'>).have) as OpResponse<O>;
      case 'fetch':
        return { records: this.store.get(b.key as string, b.type as RecordType | undefined, typeof b.slot === 'string' ? b.slot : undefined) } as OpResponse<O>;
      case 'lookup': {
        const found = await this.lookup(idFromHex(b.key as string)!);
        return { node: found.node, successors: found.successors, hops: found.hops } as OpResponse<O>;
      }
      case 'put':
        return (await this.put(b.records as OverlayRecord[], source)) as OpResponse<O>;
      case 'get':
        return { records: await this.get(idFromHex(b.key as string)!, b.type as RecordType | undefined, typeof b.slot === 'string' ? b.slot : undefined) } as OpResponse<O>;
    }
    throw new OverlayRequestError('rejected', `unknown operation ${String(op)}`);
  }

  /** Chord's notify: n thinks it might be our predecessor. */
  private onNotify(n: NodeRef): void {
    if (n.id === this.self.id) return;
    const pred = this.table.predecessor;
    if (!pred || inOpenInterval(idOf(n), idOf(pred), this.table.selfId)) {
      this.table.predecessor = n;
      this.predecessorHeardAt = this.options.now();
      this.handOver(n);
      this.changed();
      // A node joined between our old predecessor and us: tell the old one to meet it now, not at
      // its next (perhaps backed-off) stabilize round; until then it names us for the newcomer's keys.
      if (pred && pred.id !== n.id) void this.send(pred, 'ping', { stabilize: true }).catch(() => undefined);
    }
    // A ring of one learns its first successor from the first node that joins it.
    if (this.table.successors.length === 0) {
      this.table.setSuccessors(n, []);
      this.changed();
    }
  }

  /** Records the new predecessor is now responsible for go to it (we keep them as replicas). */
  private handOver(to: NodeRef): void {
    const records = this.store.all().filter((r) => !inHalfOpenInterval(idFromHex(r.key)!, idOf(to), this.table.selfId));
    for (const group of storeBatches(records)) void this.send(to, 'store', { records: group, replica: false }).catch(() => undefined);
  }

  private onLeave(body: OpRequest<'leave'>): void {
    const leaving = body.node;
    if (this.table.predecessor?.id === leaving.id) {
      this.table.predecessor = body.predecessor && body.predecessor.id !== this.self.id ? body.predecessor : undefined;
    }
    if (this.table.successors.some((s) => s.id === leaving.id)) {
      const rest = this.table.successors.filter((s) => s.id !== leaving.id);
      const merged = [...rest, ...body.successors.filter((s) => s.id !== leaving.id)];
      if (merged.length) this.table.setSuccessors(merged[0], merged.slice(1));
      else this.table.successors = [];
    }
    this.table.remove(leaving.id, this.options.now(), 0);
    this.changed();
  }

  // ---- maintenance ---------------------------------------------------------------------------

  private startMaintenance(): void {
    this.stop();
    this.generation++;
    this.running = true;
    this.stabilizeDelay = this.config.stabilizeMs;
    this.scheduleStabilize(this.generation);
    this.every(this.config.fixFingersMs, () => this.fixFingers());
    this.every(this.config.checkPredecessorMs, () => this.checkPredecessor());
    this.every(this.config.replicateMs, () => this.replicate());
    this.every(this.ringCheckMs, () => this.checkRing());
  }

  /** Runs `task` periodically with ±10% jitter, so nodes do not fall into step. */
  private every(ms: number, task: () => Promise<void>): void {
    // A task still running from before a restart of maintenance must not schedule itself again.
    const generation = this.generation;
    const live = () => this.running && generation === this.generation;
    const slot = this.timers.length;
    const schedule = () => {
      const delay = ms * (0.9 + 0.2 * this.random());
      this.timers[slot] = this.options.timers.set(delay, () => {
        if (!live()) return;
        void task().finally(() => {
          if (live()) schedule();
        });
      });
    };
    this.timers.push(undefined);
    schedule();
  }

  /**
   * Stabilize runs at stabilizeMs while the neighbourhood changes and backs off (doubling, up to
   * stabilizeBackoff times) while it is quiet: a quiet round costs one request and a short answer.
   * A change seen anywhere (a new predecessor, a node found dead, a join) calls hurryStabilize.
   * (Bamboo's lesson: recover periodically, not reactively, but at a rate the churn sets.)
   */
  private scheduleStabilize(generation: number): void {
    const delay = this.stabilizeDelay * (0.9 + 0.2 * this.random());
    this.stabilizeDueAt = this.options.now() + delay;
    this.stabilizeTimer = this.options.timers.set(delay, () => {
      this.stabilizeTimer = undefined;
      if (!this.running || generation !== this.generation) return;
      void this.stabilize().finally(() => {
        if (this.running && generation === this.generation && !this.stabilizeTimer) this.scheduleStabilize(generation);
      });
    });
  }

  /** Something changed nearby: stabilize within stabilizeMs, and at that pace until it is quiet again. */
  private hurryStabilize(): void {
    this.stabilizeDelay = this.config.stabilizeMs;
    this.quietRounds = 0;
    if (!this.running || !this.stabilizeTimer || this.stabilizeDueAt - this.options.now() <= this.config.stabilizeMs) return;
    this.options.timers.clear(this.stabilizeTimer);
    this.stabilizeTimer = undefined;
    this.scheduleStabilize(this.generation);
  }

  /** Stabilize at once (a neighbour told us the ring changed here), then at the fast pace. */
  private stabilizeNow(): void {
    this.stabilizeDelay = this.config.stabilizeMs;
    this.quietRounds = 0;
    if (!this.running || this.busy.stabilize || !this.stabilizeTimer) return;
    this.options.timers.clear(this.stabilizeTimer);
    this.stabilizeTimer = undefined;
    const generation = this.generation;
    this.stabilizeDueAt = this.options.now();
    this.stabilizeTimer = this.options.timers.set(0, () => {
      this.stabilizeTimer = undefined;
      if (!this.running || generation !== this.generation) return;
      void this.stabilize().finally(() => {
        if (this.running && generation === this.generation && !this.stabilizeTimer) this.scheduleStabilize(generation);
      });
    });
  }

  /** Chord's stabilize: check our successor's predecessor, adopt it if it sits between us, notify. */
  async stabilize(): Promise<void> {
    if (this.busy.stabilize) return;
    this.busy.stabilize = true;
    let quiet = false;
    try {
      const now = this.options.now();
      let successor = this.table.liveSuccessor(now);
      if (!successor) {
        // Every successor failed: fall back on the predecessor (or stay a ring of one).
        if (this.table.predecessor) this.table.setSuccessors(this.table.predecessor, []);
        this.changed();
        return;
      }
      let info: { predecessor?: NodeRef; successors: NodeRef[] };
      try {
        info = await this.askNeighbours(successor);
      } catch {
        // send() dropped it: the next round asks the one after it.
        this.changed();
        return;
      }
      const named = info.predecessor?.id === this.self.id;
      // Chord steps back one node per round. While rings merge, a run of the other ring's nodes
      // can sit between us and our successor: walk back through them in this round.
      const maxSteps = this.merging(now) ? MERGE_WALK_STEPS : 1;
      for (let step = 0; step < maxSteps; step++) {
        const x = info.predecessor;
        if (!x || x.id === this.self.id || !inOpenInterval(idOf(x), this.table.selfId, idOf(successor))) break;
        try {
          info = await this.askNeighbours(x);
          successor = x;
        } catch {
          break;
        }
      }
      // Every round notifies (the request carries it), even when the successor already names us:
      // skipping it left the ring broken after half the nodes failed at once (bench, massFailure 0.5).
      const changed = this.table.setSuccessors(successor, info.successors);
      if (changed) {
        this.changed();
        void this.replicate();
      }
      quiet = named && !changed && !this.merging(now);
    } finally {
      this.busy.stabilize = false;
      // Changes travel back along the ring one node per round: the interval grows from the second quiet round on.
      this.quietRounds = quiet ? this.quietRounds + 1 : 0;
      const backoff = Math.min(2 ** Math.max(0, this.quietRounds - QUIET_ROUNDS_BEFORE_BACKOFF), this.config.stabilizeBackoff);
      this.stabilizeDelay = this.config.stabilizeMs * backoff;
    }
  }

  /** One stabilize exchange with `node`: notify it, and learn its predecessor and successors (sent only when they changed). */
  private async askNeighbours(node: NodeRef): Promise<{ predecessor?: NodeRef; successors: NodeRef[] }> {
    const cached = this.fromSuccessor?.id === node.id ? this.fromSuccessor : undefined;
    const answer = await this.send(node, 'neighbours', { notify: true, ...(cached ? { known: cached.digest } : {}) });
    const successors = answer.successors ?? (answer.digest === cached?.digest ? cached?.successors : undefined);
    if (!successors) throw new OverlayRequestError('rejected', 'neighbours left out a successor list we do not hold');
    this.fromSuccessor = { id: node.id, digest: answer.digest ?? successorDigest(successors), successors };
    return { predecessor: answer.you ? this.self : answer.predecessor, successors };
  }

  /** Refreshes the next finger that lies beyond our successor (the ones before it are the successor). */
  async fixFingers(): Promise<void> {
    if (this.busy.fingers) return;
    this.busy.fingers = true;
    try {
      const successor = this.table.successor;
      for (let tries = 0; tries < this.table.fingers.length; tries++) {
        const i = this.nextFinger;
        this.nextFinger = (this.nextFinger + 1) % this.table.fingers.length;
        const start = this.table.fingerStart(i);
        if (!successor) {
          this.table.fingers[i] = undefined;
          continue;
        }
        if (inHalfOpenInterval(start, this.table.selfId, idOf(successor))) {
          this.table.fingers[i] = successor;
          continue;
        }
        const current = this.table.fingers[i];
        const chosen = this.fingerCandidates[i];
        if (this.config.proximity !== false && current && chosen && this.options.now() - chosen.at <= PNS_CANDIDATES_MS && inFingerInterval(current, start, this.fingerEnd(i))) {
          // A finger chosen for proximity stays right while it lives (any node in the interval
          // routes as well), whoever joins before it: one ping, and a rebuild only when it fails.
          await this.send(current, 'ping', {}).catch(() => undefined);
          break;
        }
        try {
          const found = await this.refreshFinger(start, [this.fingerBase[i] ?? this.table.fingers[i], this.fingerNext[i]]);
          const base = found.node.id === this.self.id ? undefined : found.node;
          if (found.next?.id !== this.self.id) this.fingerNext[i] = found.next ?? this.fingerNext[i];
          this.fingerBase[i] = base;
          this.table.fingers[i] = base && this.config.proximity !== false ? await this.nearestFinger(i, base) : base;
        } catch {
          // keep the old finger; the next round tries again
        }
        break;
      }
    } finally {
      this.busy.fingers = false;
    }
  }

  /** Where finger i's interval ends: the next finger's start (our own ID for the last). */
  private fingerEnd(i: number): NodeId {
    return i + 1 < this.table.fingers.length ? this.table.fingerStart(i + 1) : this.table.selfId;
  }

  /**
   * Proximity: the finger to keep in finger i's interval, `base` being the node responsible for
   * its start. The candidates are base and the nodes after it in its successor list that still
   * lie in the interval, fetched (one full neighbours answer) every 10 minutes or when none of
   * them is left; then one not yet measured by other traffic gets a ping. More pings chose better
   * fingers but cost more than they saved under churn (docs/overlay-simulation.md, Proximity).
   */
  private async nearestFinger(i: number, base: NodeRef): Promise<NodeRef> {
    const now = this.options.now();
    const start = this.table.fingerStart(i);
    const end = this.fingerEnd(i);
    let known = this.fingerCandidates[i];
    const alive = known?.nodes.filter((n) => n.id !== base.id && !this.table.isSuspect(n.id, now)) ?? [];
    if (known && alive.length && now - known.at <= PNS_CANDIDATES_MS) {
      // Base changed (a node joined before it, or it died): the others are still candidates.
      known = { nodes: [base, ...alive].slice(0, PNS_CANDIDATES), at: known.at };
      this.fingerCandidates[i] = known;
    } else {
      const info = await this.send(base, 'neighbours', {}).catch(() => undefined);
      const nodes = [base, ...(info?.successors ?? [])].filter((n) => n.id !== this.self.id && inFingerInterval(n, start, end)).slice(0, PNS_CANDIDATES);
      known = { nodes, at: now };
      this.fingerCandidates[i] = known;
      const unmeasured = nodes.filter((n) => this.rtts.get(n.id) === undefined).slice(0, PNS_PINGS);
      await Promise.all(unmeasured.map((n) => this.send(n, 'ping', {}).catch(() => undefined)));
    }
    const later = this.options.now();
    return nearestCandidate(known.nodes.filter((n) => !this.table.isSuspect(n.id, later)), this.rtts) ?? base;
  }

  /**
   * The node now responsible for a finger's start, found from the finger we hold (or, when it
   * died, the node that followed it): it is still right when the start lies between its
   * predecessor and it; a node that joined in between is its predecessor, one step back. A few
   * small exchanges while the ring there is known; a lookup across the ring only when it is not.
   */
  private async refreshFinger(start: NodeId, candidates: Array<NodeRef | undefined>): Promise<{ node: NodeRef; next?: NodeRef }> {
    const now = this.options.now();
    for (const first of candidates) {
      if (!first || first.id === this.self.id || this.table.isSuspect(first.id, now)) continue;
      let node = first;
      let next: NodeRef | undefined;
      try {
        for (let step = 0; step < FINGER_WALK_STEPS; step++) {
          const { predecessor } = await this.send(node, 'neighbours', { brief: true });
          if (!predecessor || !inOpenInterval(idOf(predecessor), start, idOf(node)) || idOf(predecessor) === start) return { node, next };
          next = node;
          node = predecessor;
        }
      } catch {
        // Gone: try the next candidate, then a lookup.
        continue;
      }
    }
    const found = await this.lookup(start);
    return { node: found.node, next: found.successors[0] };
  }

  /**
   * Chord's check_predecessor, with one retry before the predecessor is declared dead. A
   * predecessor heard from within the period (its own stabilize asks us) is alive: no ping.
   * Without a predecessor for a few periods, look for the node that should be it.
   */
  async checkPredecessor(): Promise<void> {
    const pred = this.table.predecessor;
    if (!pred) {
      if (this.busy.predecessor || !this.table.successor) return;
      this.busy.predecessor = true;
      try {
        await this.findOrphaningNode();
      } finally {
        this.busy.predecessor = false;
      }
      return;
    }
    this.orphanedSince = undefined;
    if (this.busy.predecessor) return;
    if (this.options.now() - this.predecessorHeardAt < this.config.checkPredecessorMs) return;
    this.busy.predecessor = true;
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await this.send(pred, 'ping', {});
          return;
        } catch {
          // retry once
        }
      }
      if (this.table.predecessor?.id === pred.id) this.drop(pred);
    } finally {
      this.busy.predecessor = false;
    }
  }

  /**
   * Nobody has notified us for ORPHAN_PERIODS check periods: when many nodes crash at once, the
   * node before us can lose every successor and finger and fall back on a successor behind it,
   * and then nobody's successor pointer reaches us; stabilize alone never repairs that. A lookup
   * of the key just before our ID ends at the node whose successor pointer covers it: if that
   * names another node, we tell it we may be its successor.
   */
  private async findOrphaningNode(): Promise<void> {
    const now = this.options.now();
    this.orphanedSince ??= now;
    if (now - this.orphanedSince < ORPHAN_PERIODS * this.config.checkPredecessorMs) return;
    this.orphanedSince = now;
    try {
      // The key just before our ID: ours to serve, so the lookup ends at the node that should name us.
      const found = await this.lookup(addId(this.table.selfId, RING_SIZE - 1n));
      if (found.node.id !== this.self.id && found.via && found.via.id !== this.self.id) {
        this.stats.orphanHints++;
        await this.send(found.via, 'ping', { successor: this.self });
      }
    } catch {
      // the next period tries again
    }
  }

  /** A node told us it may be our successor: adopt it when it is alive and closer than ours. */
  private async considerSuccessor(node: NodeRef): Promise<void> {
    const successor = this.table.successor;
    if (!this.running || node.id === this.self.id || (successor && !inOpenInterval(idOf(node), this.table.selfId, idOf(successor)))) return;
    try {
      const info = await this.send(node, 'neighbours', { notify: true });
      if (this.table.mergeSuccessors([node, ...(info.successors ?? [])])) {
        this.changed();
        void this.replicate();
      }
    } catch {
      // not alive after all
    }
  }

  /** Copies the records this node is responsible for to its replicas, and drops expired ones. */
  async replicate(): Promise<void> {
    if (this.busy.replicate) return;
    this.busy.replicate = true;
    try {
      if (this.store.expire()) this.changed();
      const mine = this.store.all().filter((r) => this.table.isResponsible(idFromHex(r.key)!));
      const replicaNodes = this.table.successors.slice(0, this.config.replicas - 1);
      await Promise.allSettled(replicaNodes.map((n) => this.syncReplica(n, mine)));
      await this.rebalance();
    } finally {
      this.busy.replicate = false;
    }
  }

  /**
   * Brings one replica up to date: lists the digests of our records (op `sync`) and stores the
   * ones it lacks. A node that does not know `sync` (an older version) gets every record.
   */
  private async syncReplica(node: NodeRef, mine: OverlayRecord[]): Promise<void> {
    if (!mine.length) return;
    const byDigest = new Map(mine.map((r) => [digestOf(r), r]));
    const digests = [...byDigest.keys()];
    for (let i = 0; i < digests.length; i += SYNC_BATCH) {
      let missing: OverlayRecord[];
      try {
        const answer = await this.send(node, 'sync', { have: digests.slice(i, i + SYNC_BATCH) });
        missing = answer.missing.map((d) => byDigest.get(d)).filter((r): r is OverlayRecord => r !== undefined);
      } catch (error) {
        if ((error as OverlayRequestError).kind !== 'rejected') return;
        missing = digests.slice(i, i + SYNC_BATCH).map((d) => byDigest.get(d)!);
      }
      for (const records of storeBatches(missing)) await this.send(node, 'store', { records, replica: true });
    }
  }

  /**
   * Copies of keys this node is not responsible for may be replicas, or strays: stored while
   * the ring was still forming, or handed over to a node that was not yet ready. For a few such
   * keys each round, make sure the responsible node has them, and drop the copy here when this
   * node is not among the key's holders (the responsible node and its next replicas-1 successors).
   */
  private async rebalance(): Promise<void> {
    const now = this.options.now();
    const all = this.store.all();
    const heldRecords = new Set(all.map(recordId));
    for (const id of this.confirmed.keys()) if (!heldRecords.has(id)) this.confirmed.delete(id);
    // A replica its primary pushed lately is where it belongs: no lookup for it. A key is placed
    // again when any of its records was not pushed: one stored here while the key was changing
    // hands (a put routed by a stale view during a join) would otherwise never reach its primary.
    const fresh = (r: OverlayRecord) => now - (this.confirmed.get(recordId(r)) ?? -Infinity) < 2.5 * this.config.replicateMs;
    const foreign = [...new Set(all.filter((r) => !fresh(r)).map((r) => r.key))].filter((k) => !this.table.isResponsible(idFromHex(k)!));
    if (!foreign.length || !this.table.successor) return;
    // After a merge whole arcs change hands at once, and a record is not found until it reaches
    // its new holders: place every stray copy now, several lookups at a time.
    const merging = this.merging(now);
    const batch = Math.min(foreign.length, merging ? MERGE_REBALANCE_KEYS : 16);
    const parallel = merging ? MERGE_REBALANCE_PARALLEL : 1;
    const place = async (key: string) => {
      try {
        const found = await this.lookup(idFromHex(key)!);
        const holders = [found.node, ...found.successors].slice(0, this.config.replicas);
        if (found.node.id !== this.self.id) for (const records of storeBatches(this.store.allUnder(key))) await this.send(found.node, 'store', { records, replica: false });
        // Drop only on a full picture: a short successor list may just not reach this node.
        if (holders.length === this.config.replicas && !holders.some((h) => h.id === this.self.id) && this.store.removeKey(key)) this.changed();
      } catch {
        // try again next round
      }
    };
    for (let i = 0; i < batch; i += parallel) {
      const keys = Array.from({ length: Math.min(parallel, batch - i) }, (_, j) => foreign[(this.rebalanceCursor + i + j) % foreign.length]);
      await Promise.all(keys.map(place));
    }
    this.rebalanceCursor = (this.rebalanceCursor + batch) % Math.max(1, foreign.length);
  }

  /** Sends one operation to any node (e.g. a client asking its member), with failure bookkeeping. */
  handleRemote<O extends OverlayOp>(to: { host: string; port: number; id?: string }, op: O, body: OpRequest<O>): Promise<OpResponse<O>> {
    return this.send(to, op, body);
  }

  private async send<O extends OverlayOp>(to: { host: string; port: number; id?: string }, op: O, body: OpRequest<O>, timeoutMs = this.config.requestTimeoutMs): Promise<OpResponse<O>> {
    this.stats.requestsSent++;
    const sentAt = this.options.now();
    try {
      const answer = this.ids.screenAnswer(op, await this.options.transport.request(to, op, body, timeoutMs));
      if (!answer) throw new OverlayRequestError('rejected', `${op} to ${to.host}:${to.port}: the node it names has no valid ID proof`);
      if (to.id) {
        this.table.alive(to.id);
        this.rtts.sample(to.id, this.options.now() - sentAt);
      }
      return answer;
    } catch (error) {
      this.stats.requestFailures++;
      if (to.id && to.id !== this.self.id && (error as OverlayRequestError).kind !== 'rejected') this.drop({ id: to.id, host: to.host, port: to.port });
      throw error;
    }
  }

  /**
   * A request to `node` timed out or could not be sent: drop it from the whole table at once, and
   * remember it for the ring check when it was a neighbour or finger. (Dropping only after a second
   * failure in a row was tried: under 1.4-minute churn lookups succeeded less and bytes rose, as
   * dead nodes lingered in successor lists. A live node dropped by mistake comes back by
   * stabilize, or, when its loss split the ring, by the ring check.)
   */
  private drop(node: NodeRef): void {
    this.rtts.forget(node.id);
    const known = this.table.knows(node.id);
    const wasPredecessor = this.table.predecessor?.id === node.id;
    const wasSuccessor = this.table.remove(node.id, this.options.now(), this.config.avoidMs);
    if (!known) return;
    this.departed.delete(node.id);
    this.departed.set(node.id, { node, next: this.options.now() + this.ringCheckMs, tries: 0 });
    if (this.departed.size > DEPARTED_MEMORY) this.departed.delete(this.departed.keys().next().value!);
    // A finger gone changes nothing stabilize looks at.
    if (wasSuccessor || wasPredecessor) this.changed();
  }

  /**
   * Partition healing: a ring split in two (a network partition, or neighbours dropped as dead
   * under load) goes on as two correct-looking rings, and stabilize never joins them again. Now
   * and then ask one node this node dropped a while ago: if it answers and our ring does not find
   * it, the rings merge (mergeWith). One that answers is forgotten (a member of our ring costs a
   * ping and a lookup); one that does not is asked again after twice as long, for about an hour:
   * a partition can last that long, and a crashed node costs one ping per check.
   */
  async checkRing(): Promise<void> {
    const now = this.options.now();
    let due: [string, { node: NodeRef; next: number; tries: number }] | undefined;
    for (const entry of this.departed) if (entry[1].next <= now && (!due || entry[1].next < due[1].next)) due = entry;
    if (!due || !this.table.successor) return;
    const [id, entry] = due;
    try {
      // A successor check that failed says nothing: that contact is asked again, as one that did not answer.
      if ((await this.mergeWith(entry.node)) === 'same-ring-unchecked') throw new LookupError('successor not checked');
      this.departed.delete(id);
    } catch {
      entry.tries++;
      entry.next = this.options.now() + this.ringCheckMs * 2 ** entry.tries;
      if (entry.tries >= DEPARTED_TRIES) this.departed.delete(id);
    }
  }

  private get ringCheckMs(): number {
    return this.config.ringCheckMs ?? 30 * this.config.stabilizeMs;
  }

  private changed(): void {
    this.hurryStabilize();
    this.options.onChange?.();
  }
}

/** A store request's records are kept under this many bytes of JSON, well inside one 64 KB SIP message. */
/** A predecessor not heard from in this many check periods may be dead: writes for its keys are taken. */
const PREDECESSOR_SILENT_PERIODS = 3;
/** Paths of a lookup that must survive lying nodes (lookupDisjoint). */
const DISJOINT_PATHS = 6;
/**
 * A "done" whose answering node and named node lie more than this many mean gaps apart needs a
 * second witness. An honest one spans one gap: wider than 3 mean gaps about 1 time in 20.
 */
const SUSPICIOUS_GAPS = 3;
/** How far back (in mean gaps between nodes, per replica) a node takes replica writes from. */
const REPLICA_REACH = 4;
const STORE_BATCH_BYTES = 48 * 1024;
const STORE_BATCH_RECORDS = 200;

/**
 * Splits records into store requests by size as well as count: a few mailbox records weigh
 * more than hundreds of bindings, and a request past the SIP size limit would time out and
 * make a live replica look dead.
 */
export function storeBatches(records: OverlayRecord[]): OverlayRecord[][] {
  const out: OverlayRecord[][] = [];
  let batch: OverlayRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = Buffer.byteLength(JSON.stringify(record));
    if (batch.length && (bytes + size > STORE_BATCH_BYTES || batch.length >= STORE_BATCH_RECORDS)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(record);
    bytes += size;
  }
  if (batch.length) out.push(batch);
  return out;
}

/** A record's digest, worked out once per record object (replication lists them every round). */
const digests = new WeakMap<OverlayRecord, string>();
function digestOf(r: OverlayRecord): string {
  let d = digests.get(r);
  if (d === undefined) digests.set(r, (d = recordDigest(r)));
  return d;
}

/** One record's place in a store: key, type and slot. */
function recordId(r: OverlayRecord): string {
  return `${r.key} ${r.type} ${r.slot}`;
}

function groupByKey(records: OverlayRecord[]): Map<string, OverlayRecord[]> {
  const groups = new Map<string, OverlayRecord[]>();
  for (const r of records) groups.set(r.key, [...(groups.get(r.key) ?? []), r]);
  return groups;
}
