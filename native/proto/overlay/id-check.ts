// The door of a node's routing state: every node reference that arrives in an overlay message
// (an answer's `node`, `successors` and `predecessor`; a request's `node`, `merge`, `successor`,
// `predecessor` and `successors`; the sender's Contact) is checked against its ID proof
// (wire/overlay/id-puzzle.ts) before the node can enter a table or be asked as a lookup hop.
// A node whose ID does not stand is left out of lists, and an answer whose one node fails is
// refused; each is counted by reason.
import { checkIdProof, type IdProofProblem } from '../../wire/overlay/id-puzzle.js';
import type { NodeRef, OpRequest, OpResponse, OverlayOp } from '../../wire/overlay/messages.js';

/** Proofs remembered with their verdict, by `id pk nonce` (then forgotten all at once). */
const CHECKED_MAX = 50_000;

export class IdCheck {
  /** Node references refused, by reason. */
  readonly refused: Record<IdProofProblem, number> = { missing: 0, malformed: 0, 'wrong-id': 0, 'too-little-work': 0 };
  /** The same contacts come back in every stabilize round: a proof is hashed once. */
  private readonly checked = new Map<string, IdProofProblem | undefined>();

  constructor(
    /** The overlay's difficulty: zero bits a proof must show. */
    readonly difficulty: number,
    /** false: references are taken unchecked (the simulator's rings of hashed counters). */
    readonly enabled: boolean,
  ) {}

  get refusedTotal(): number {
    return Object.values(this.refused).reduce((a, b) => a + b, 0);
  }

  /** Whether the node's ID stands; a refusal is counted. */
  accepts(node: NodeRef): boolean {
    if (!this.enabled) return true;
    const memo = `${node.id} ${String(node.pk)} ${String(node.nonce)}`;
    let problem: IdProofProblem | undefined;
    if (this.checked.has(memo)) problem = this.checked.get(memo);
    else {
      problem = checkIdProof(node, this.difficulty);
      if (this.checked.size >= CHECKED_MAX) this.checked.clear();
      this.checked.set(memo, problem);
    }
    if (problem) this.refused[problem]++;
    return !problem;
  }

  private list(nodes: NodeRef[]): NodeRef[] {
    return nodes.filter((n) => this.accepts(n));
  }

  /**
   * An answer with the nodes that fail their proof taken out; undefined when the one node the
   * answer is about fails (ping's `node`, a lookup step's `node`): nothing in it can be used.
   */
  screenAnswer<O extends OverlayOp>(op: O, answer: OpResponse<O>): OpResponse<O> | undefined {
    if (!this.enabled) return answer;
    switch (op) {
      case 'ping': {
        const a = answer as OpResponse<'ping'>;
        return this.accepts(a.node) ? answer : undefined;
      }
      case 'find-closest':
      case 'lookup': {
        const a = answer as OpResponse<'find-closest'>;
        if (!this.accepts(a.node)) return undefined;
        return { ...a, successors: this.list(a.successors) } as OpResponse<O>;
      }
      case 'neighbours': {
        const a = answer as OpResponse<'neighbours'>;
        const { predecessor, ...rest } = a;
        return {
          ...rest,
          ...(predecessor && this.accepts(predecessor) ? { predecessor } : {}),
          ...(a.successors ? { successors: this.list(a.successors) } : {}),
        } as OpResponse<O>;
      }
      default:
        return answer;
    }
  }

  /** A request with the nodes that fail their proof taken out (a `notify` whose node fails becomes undefined). */
  screenRequest<O extends OverlayOp>(op: O, body: OpRequest<O>): OpRequest<O> | undefined {
    if (!this.enabled) return body;
    switch (op) {
      case 'ping': {
        const { merge, successor, ...rest } = body as OpRequest<'ping'>;
        return { ...rest, ...(merge && this.accepts(merge) ? { merge } : {}), ...(successor && this.accepts(successor) ? { successor } : {}) } as OpRequest<O>;
      }
      case 'notify':
        return this.accepts((body as OpRequest<'notify'>).node) ? body : undefined;
      case 'leave': {
        // The leaving node is only forgotten, so it needs no proof; what it hands on does.
        const { predecessor, successors, ...rest } = body as OpRequest<'leave'>;
        return { ...rest, ...(predecessor && this.accepts(predecessor) ? { predecessor } : {}), successors: this.list(successors) } as OpRequest<O>;
      }
      default:
        return body;
    }
  }
}
