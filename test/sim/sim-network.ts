// A simulated network for ChordNode: latency, loss and node failures, with every message
// serialised as it would be on the wire (so byte counts are real and nothing is shared).
import { ChordNode, DEFAULT_CHORD_CONFIG, OverlayRequestError, type ChordConfig, type OverlayTransport } from '../../native/proto/overlay/chord-node.js';
import { RecordStore } from '../../native/proto/overlay/record-store.js';
import type { NodeRef, OpRequest, OpResponse, OverlayOp } from '../../native/wire/overlay/messages.js';
import { idToHex, sha1Id } from '../../native/wire/overlay/node-id.js';
import { nodeIdFromProof, solveIdRange } from '../../native/wire/overlay/id-puzzle.js';
import { T1, T2, type TimerHandle } from '../../native/proto/sip/timers.js';
import { EventScheduler } from './event-scheduler.js';
import type { InternetLatencyModel } from './internet-latency.js';
import { overlayOverheads } from './sip-size.js';

export { seededRandom } from '../support/random.js';

export interface SimNetworkOptions {
  /** One-way latency in ms between two nodes. */
  latency?: (from: string, to: string) => number;
  /**
   * Latencies from positions (internet-latency.ts, fitted to published Internet RTTs), used
   * when `latency` is not given. Without either, each message takes 10-50 ms, uniform.
   */
  latencyModel?: InternetLatencyModel;
  /** Probability that one message (request or response) is lost. */
  loss?: number;
  random?: () => number;
  overlay?: string;
  config?: Partial<ChordConfig>;
  /**
   * Resend an unanswered request as a SIP client transaction over UDP does (Timer E: after T1 =
   * 500 ms, then doubling up to T2 = 4 s, until the overlay's request timeout), and answer a
   * resent request with the response already sent, as the server transaction does. Off by
   * default: without it a lost message always costs the sender a full request timeout.
   */
  retransmit?: boolean;
  /** Passed to the EventScheduler; 1 runs the slow reference path. */
  schedulerBatch?: number;
  /**
   * Nodes get IDs from a (seeded) key and the ID puzzle at config.idDifficulty, as real nodes do,
   * instead of hashed counters; give config.verifyIds true to have them checked.
   */
  provenIds?: boolean;
}

/**
 * What a request and its response cost on the wire beyond their JSON bodies (start line and
 * headers), by operation, from the real encoders (sip-size.ts): about 475 and 385 bytes.
 */
const OVERHEADS = overlayOverheads();
/** The mean of a find-closest request's and response's overhead (for estimates of lookup traffic). */
export const SIP_OVERHEAD_BYTES = Math.round((OVERHEADS.get('find-closest')!.request + OVERHEADS.get('find-closest')!.response) / 2);

/**
 * A malicious node's answer to one request, in place of the honest node's: an answer, DROP (no
 * answer at all), or undefined to answer honestly.
 */
export type Adversary = (op: OverlayOp, body: unknown) => unknown;
export const DROP = Symbol('drop');

export class SimNetwork {
  /** Nodes that answer as an attacker would, by address (host:port). */
  readonly adversaries = new Map<string, Adversary>();
  readonly scheduler: EventScheduler;
  readonly nodes = new Map<string, ChordNode>();
  readonly config: ChordConfig;
  private readonly dead = new Set<string>();
  readonly bytesSent = new Map<string, number>();
  /** Bytes of requests and their responses, by overlay operation. */
  readonly bytesByOp = new Map<OverlayOp, number>();
  /** Every byte sent by every node, the dead included. */
  totalBytes = 0;
  messages = 0;
  /** Requests that timed out. */
  timeouts = 0;
  /**
   * Requests that timed out although neither message was lost and the node was up: the answer
   * was on its way, only later than the timeout (a timeout too short for the latency model).
   */
  lateTimeouts = 0;
  private readonly random: () => number;
  private nextPort = 1;
  /** While set, the side (of two) each address is on: messages between the sides are lost. */
  private side?: Set<string>;

  constructor(private readonly options: SimNetworkOptions = {}) {
    this.random = options.random ?? Math.random;
    this.scheduler = new EventScheduler({ batch: options.schedulerBatch });
    // The simulator's IDs are hashed counters without proofs; a test of proofs turns the check on (id-proofs.test.ts).
    this.config = { ...DEFAULT_CHORD_CONFIG, verifyIds: false, ...options.config };
  }

  get overlay(): string {
    return this.options.overlay ?? 'sim';
  }

  private address(n: { host: string; port: number }): string {
    return `${n.host}:${n.port}`;
  }

  /**
   * Adds a node with a fresh ID (SHA-1 of a counter, standing in for a public key; or a proven one,
   * see provenIds). `chosenId`: a node that places itself where it likes, without a proof (a sybil).
   */
  addNode(chosenId?: string): ChordNode {
    const port = this.nextPort++;
    const self: NodeRef = chosenId ? { id: chosenId, host: 'sim', port } : this.options.provenIds ? this.provenSelf(port) : { id: idToHex(sha1Id(`sim-node-${port}-${this.random()}`)), host: 'sim', port };
    const scheduler = this.scheduler;
    const node = new ChordNode({
      self,
      transport: this.transportFor(self),
      timers: scheduler,
      store: new RecordStore({ overlay: this.overlay, now: () => scheduler.now }),
      now: () => scheduler.now,
      config: this.config,
      random: this.random,
    });
    this.nodes.set(this.address(self), node);
    return node;
  }

  private provenSelf(port: number): NodeRef {
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) key[i] = Math.floor(this.random() * 256);
    const { nonce } = solveIdRange(key, this.config.idDifficulty, 0, Number.MAX_SAFE_INTEGER)!;
    return { id: idToHex(nodeIdFromProof(key, nonce)), host: 'sim', port, pk: key.toString('base64url'), nonce };
  }

  /** A node crashes: it stops and nothing reaches it any more. */
  kill(node: ChordNode): void {
    node.stop();
    this.dead.add(this.address(node.self));
    this.nodes.delete(this.address(node.self));
  }

  /** A node quits gracefully (hands its records over, tells its neighbours), then is gone. */
  async depart(node: ChordNode): Promise<void> {
    await node.leave();
    this.kill(node);
  }

  /** A network partition: from now on no message crosses between `nodes` and every other node. */
  partition(nodes: ChordNode[]): void {
    this.side = new Set(nodes.map((n) => this.address(n.self)));
  }

  /** The partition ends: every node reaches every other again. */
  heal(): void {
    this.side = undefined;
  }

  private cut(from: string, to: string): boolean {
    return this.side !== undefined && this.side.has(from) !== this.side.has(to);
  }

  /** Nodes running the protocol (joined or created, not stopped). */
  live(): ChordNode[] {
    return [...this.nodes.values()].filter((n) => n.joined);
  }

  /**
   * The ring's members for judging it: nodes running the protocol, or, for a ring whose tables
   * were installed directly (no maintenance runs), every node on the network.
   */
  members(): ChordNode[] {
    const live = this.live();
    return live.length ? live : this.reachable();
  }

  /** Every node still on the network, whether or not it runs maintenance. */
  reachable(): ChordNode[] {
    return [...this.nodes.values()];
  }

  private transportFor(self: NodeRef): OverlayTransport {
    const from = this.address(self);
    return {
      request: <O extends OverlayOp>(to: { host: string; port: number }, op: O, body: OpRequest<O>, timeoutMs: number) =>
        new Promise<OpResponse<O>>((resolve, reject) => {
          const target = this.address(to);
          let settled = false;
          let dropped = false;
          let retransmitTimer: TimerHandle | undefined;
          const timer = this.scheduler.set(timeoutMs, () => {
            if (settled) return;
            settled = true;
            if (retransmitTimer) this.scheduler.clear(retransmitTimer);
            // A crashed sender's requests still time out (its code may be awaiting them); not counted.
            if (!this.dead.has(from)) {
              this.timeouts++;
              if (!dropped && this.nodes.has(target) && !this.dead.has(target)) this.lateTimeouts++;
            }
            reject(new OverlayRequestError('timeout', `${op} to ${target} timed out`));
          });
          const payload = JSON.stringify(body);
          /** The receiving side's server transaction: not reached yet, handling the request, or answered. */
          let server: { reply?: string } | undefined;
          const sendReply = (reply: string) => {
            this.count(target, op, Buffer.byteLength(reply) + OVERHEADS.get(op)!.response);
            if (this.lost() || this.cut(target, from)) {
              dropped = true;
              return;
            }
            this.scheduler.set(this.latency(target, from), () => {
              if (settled || this.dead.has(from)) return;
              settled = true;
              this.scheduler.clear(timer);
              if (retransmitTimer) this.scheduler.clear(retransmitTimer);
              resolve(JSON.parse(reply) as OpResponse<O>);
            });
          };
          const sendRequest = () => {
            this.count(from, op, Buffer.byteLength(payload) + OVERHEADS.get(op)!.request);
            if (this.lost() || this.cut(from, target)) {
              dropped = true;
              return;
            }
            this.scheduler.set(this.latency(from, target), () => {
              const node = this.nodes.get(target);
              if (!node || this.dead.has(target) || this.dead.has(from)) return;
              // RFC 3261 17.2.2: a retransmission reaches the server transaction, not the node: it is
              // absorbed while the request is being handled, and answered with the same response after.
              if (server) {
                if (server.reply !== undefined) sendReply(server.reply);
                return;
              }
              const answering: { reply?: string } = {};
              server = answering;
              const lie = this.adversaries.get(target)?.(op, JSON.parse(payload));
              if (lie === DROP) return;
              (lie !== undefined ? Promise.resolve(lie as OpResponse<O>) : node.handle(op, JSON.parse(payload) as OpRequest<O>, self))
                .then((answer) => {
                  if (this.dead.has(target)) return;
                  answering.reply = JSON.stringify(answer);
                  sendReply(answering.reply);
                })
                .catch(() => undefined);
            });
          };
          sendRequest();
          if (this.options.retransmit) {
            // RFC 3261 17.1.2.2: "If an unreliable transport is in use, the client transaction MUST
            // set timer E to fire in T1 seconds"; each firing resends and doubles it, up to T2.
            let interval = T1;
            const arm = () => {
              retransmitTimer = this.scheduler.set(interval, () => {
                if (settled || this.dead.has(from)) return;
                sendRequest();
                interval = Math.min(2 * interval, T2);
                arm();
              });
            };
            arm();
          }
        }),
    };
  }

  private latency(from: string, to: string): number {
    if (this.options.latency) return this.options.latency(from, to);
    if (this.options.latencyModel) return this.options.latencyModel.oneWay(from, to, this.random);
    return 10 + this.random() * 40;
  }

  /**
   * Round-trip time between two nodes in ms, as the latency model has it (without jitter); with
   * a `latency` function, the sum of one sample each way; by default, the mean (60 ms).
   */
  rtt(a: { host: string; port: number }, b: { host: string; port: number }): number {
    const from = this.address(a);
    const to = this.address(b);
    if (from === to) return 0;
    if (this.options.latency) return this.options.latency(from, to) + this.options.latency(to, from);
    if (this.options.latencyModel) return this.options.latencyModel.rtt(from, to);
    return 60;
  }

  private lost(): boolean {
    return (this.options.loss ?? 0) > 0 && this.random() < (this.options.loss ?? 0);
  }

  private count(address: string, op: OverlayOp, bytes: number): void {
    this.totalBytes += bytes;
    this.bytesByOp.set(op, (this.bytesByOp.get(op) ?? 0) + bytes);
    this.messages++;
    this.bytesSent.set(address, (this.bytesSent.get(address) ?? 0) + bytes);
  }
}


/** True when every live node's successor is the next live node on the ring. */
export function ringIsCorrect(nodes: ChordNode[]): { correct: boolean; wrong: number } {
  const sorted = [...nodes].sort((a, b) => (a.self.id < b.self.id ? -1 : 1));
  let wrong = 0;
  sorted.forEach((n, i) => {
    const expected = sorted[(i + 1) % sorted.length];
    if (n.table.successor?.id !== expected.self.id) wrong++;
  });
  return { correct: wrong === 0, wrong };
}
