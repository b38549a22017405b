// The overlay's operations and how each travels as SIP: a REGISTER whose P2P-Op header names
// the operation (after SIPpeer), with a JSON body, answered by a 200 whose JSON body is the
// result. Every overlay packet is therefore valid SIP that sipp, Kamailio and Wireshark parse.
import { createHash } from 'node:crypto';
import { type SipRequest, type SipResponse, decodeBody } from '../sip/message.js';
import { isNonce, isPublicKeyText } from './id-puzzle.js';
import { parseRecord, type OverlayRecord, type RecordType } from './record.js';

/**
 * A node as others know it: its ring ID (40 hex digits), where its SIP socket is, and the proof
 * that the ID is its own (id-puzzle.ts): its raw Ed25519 key (base64url) and the puzzle's nonce.
 * The proof is optional on the wire (a client, an older node); a member takes no node without a
 * valid one into its tables.
 */
export interface NodeRef {
  id: string;
  host: string;
  port: number;
  pk?: string;
  nonce?: number;
}

export interface StoreResult {
  stored: number;
  rejected: Array<{ key: string; type: RecordType; reason: string }>;
}

export interface OverlayOps {
  /** Liveness (check-predecessor, failure detection). */
  /** `merge`: a node of another ring of this overlay, to merge with (docs/protocol.md "Merging rings"). */
  /** `stabilize`: the sender just took a new predecessor between us and it: stabilize now to meet it. */
  ping: { request: { merge?: NodeRef; stabilize?: boolean; successor?: NodeRef }; response: { node: NodeRef } };
  /** One step of an iterative lookup: the key's successor if known (done), else a closer node. */
  'find-closest': { request: { key: string; avoid?: string[] }; response: { done: boolean; node: NodeRef; successors: NodeRef[] } };
  /**
   * Stabilize: the receiver's predecessor and successor list. `notify`: the sender (its Contact)
   * may be the receiver's predecessor (Chord's notify, carried here so a round is one exchange,
   * not two). `you` in the answer: the receiver's predecessor is the sender (not named again).
   * `known`: the digest of the successor list the sender already holds from the receiver; when it
   * is still current the answer leaves `successors` out; `brief`: leave them out anyway (a finger
   * check needs only the predecessor).
   */
  neighbours: { request: { notify?: boolean; known?: string; brief?: boolean }; response: { predecessor?: NodeRef; you?: boolean; successors?: NodeRef[]; digest?: string } };
  /** "I might be your predecessor." */
  notify: { request: { node: NodeRef }; response: Record<string, never> };
  /** A graceful leave, sent to both neighbours. */
  leave: { request: { node: NodeRef; predecessor?: NodeRef; successors: NodeRef[] }; response: Record<string, never> };
  /** Store records at the responsible node (replica=false) or at a replica (replica=true). */
  store: { request: { records: OverlayRecord[]; replica: boolean }; response: StoreResult };
  /**
   * Replication: the primary lists the digests (recordDigest) of the records it holds and the
   * receiver is a replica for; the replica answers the ones it lacks, which the primary then
   * stores. A round where nothing changed costs 16 hex digits a record, not the record.
   */
  sync: { request: { have: string[] }; response: { missing: string[] } };
  /** Fetch the live records under a key; with `slot`, only that one (how a voice chunk is fetched). */
  fetch: { request: { key: string; type?: RecordType; slot?: string }; response: { records: OverlayRecord[] } };
  /** Client role: a member looks a key up for an attached client. */
  lookup: { request: { key: string }; response: { node: NodeRef; successors: NodeRef[]; hops: number } };
  /** Client role: a member stores records for an attached client, at the responsible node. */
  put: { request: { records: OverlayRecord[] }; response: StoreResult };
  /** Client role: a member fetches for an attached client. */
  get: { request: { key: string; type?: RecordType; slot?: string }; response: { records: OverlayRecord[] } };
}
export type OverlayOp = keyof OverlayOps;
export type OpRequest<O extends OverlayOp> = OverlayOps[O]['request'];
export type OpResponse<O extends OverlayOp> = OverlayOps[O]['response'];

export const OVERLAY_OPS: readonly OverlayOp[] = ['ping', 'find-closest', 'neighbours', 'notify', 'leave', 'store', 'sync', 'fetch', 'lookup', 'put', 'get'];
/** Digests in one `sync` request (about 40 KB of JSON). */
export const SYNC_BATCH = 2_000;
export const OVERLAY_CONTENT_TYPE = 'application/peerdial-overlay+json';
export const OP_HEADER = 'p2p-op';
export const OVERLAY_HEADER = 'p2p-overlay';

/** What an overlay REGISTER carries besides the standard headers (the stack adds those). */
export interface OverlayRequestParts {
  requestUri: string;
  to: string;
  from: string;
  contact: string;
  headers: Record<string, string>;
  body: string;
  contentType: string;
}

/** The node's URI: `sip:ID@OVERLAY`, or its address `sip:ID@HOST:PORT` with its ID proof as URI parameters (`;pk=KEY;nonce=N`). */
export function nodeUri(node: NodeRef, overlay?: string): string {
  const host = node.host.includes(':') ? `[${node.host}]` : node.host;
  if (overlay) return `sip:${node.id}@${overlay}`;
  const proof = isPublicKeyText(node.pk) && isNonce(node.nonce) ? `;pk=${node.pk};nonce=${node.nonce}` : '';
  return `sip:${node.id}@${host}:${node.port}${proof}`;
}

/**
 * The REGISTER for an operation. Request-URI: the target node's address. To: the key (or the
 * target's ID) in the overlay's domain. From and Contact: the sender node. The sender's
 * Contact carries no expiry: it is not asking to be registered, only saying who it is.
 */
export function encodeOverlayRequest<O extends OverlayOp>(op: O, body: OpRequest<O>, from: NodeRef, target: { host: string; port: number; id?: string }, overlay: string): OverlayRequestParts {
  const key = (body as { key?: string }).key ?? target.id ?? from.id;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return {
    requestUri: `sip:${host}:${target.port}`,
    to: `sip:${key}@${overlay}`,
    from: nodeUri(from, overlay),
    contact: nodeUri(from),
    headers: { 'P2P-Op': op, 'P2P-Overlay': overlay },
    body: JSON.stringify(body),
    contentType: OVERLAY_CONTENT_TYPE,
  };
}

export type DecodedOverlayRequest = { ok: true; op: OverlayOp; overlay: string; body: unknown; sender?: NodeRef } | { ok: false; status: number; reason: string };

/** True for a REGISTER that is an overlay operation (ordinary phones' REGISTERs have no P2P-Op). */
export function isOverlayRequest(request: SipRequest): boolean {
  return request.method === 'REGISTER' && typeof request.headers[OP_HEADER] === 'string';
}

export function decodeOverlayRequest(request: SipRequest): DecodedOverlayRequest {
  const op = String(request.headers[OP_HEADER] ?? '').trim() as OverlayOp;
  if (!OVERLAY_OPS.includes(op)) return { ok: false, status: 400, reason: `Bad Request (unknown overlay operation "${op}")` };
  const overlay = String(request.headers[OVERLAY_HEADER] ?? '').trim();
  const type = String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== OVERLAY_CONTENT_TYPE) return { ok: false, status: 415, reason: 'Unsupported Media Type' };
  let body: unknown;
  try {
    body = JSON.parse(decodeBody(request.content));
  } catch {
    return { ok: false, status: 400, reason: 'Bad Request (overlay body is not JSON)' };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, status: 400, reason: 'Bad Request (overlay body is not an object)' };
  const contact = request.headers.contact;
  const sender = Array.isArray(contact) && contact[0] ? parseNodeUri(contact[0].uri) : undefined;
  const problem = checkOpBody(op, body as Record<string, unknown>);
  if (problem) return { ok: false, status: 400, reason: `Bad Request (${problem})` };
  return { ok: true, op, overlay, body, sender };
}

export function decodeOverlayResponse<O extends OverlayOp>(op: O, response: SipResponse): OpResponse<O> | string {
  if (response.status !== 200) return `${response.status} ${response.reason}`;
  try {
    const body = JSON.parse(decodeBody(response.content)) as Record<string, unknown>;
    const problem = checkResponseBody(op, body);
    return problem ? `bad ${op} response: ${problem}` : (body as OpResponse<O>);
  } catch {
    return `bad ${op} response: not JSON`;
  }
}

/** The digest of a successor list (8 hex digits): who the nodes are and where, in order. */
export function successorDigest(successors: readonly NodeRef[]): string {
  return createHash('sha1')
    .update(successors.map((n) => `${n.id}@${n.host}:${n.port}`).join(','))
    .digest('hex')
    .slice(0, 8);
}

/** A node from a Contact URI; its ID proof when the URI carries one that is well-formed (a malformed one is left out). */
export function parseNodeUri(uri: string): NodeRef | undefined {
  const m = /^sip:([0-9a-f]{40})@(\[[0-9a-fA-F:.]+\]|[^:;>\s]+):(\d{1,5})/.exec(uri);
  if (!m) return undefined;
  const node: NodeRef = { id: m[1], host: m[2].replace(/^\[(.*)\]$/, '$1'), port: Number(m[3]) };
  const pk = /;pk=([A-Za-z0-9_-]{43})(?=;|$)/.exec(uri.slice(m[0].length));
  const nonce = /;nonce=(\d{1,16})(?=;|$)/.exec(uri.slice(m[0].length));
  if (pk && nonce && isNonce(Number(nonce[1]))) {
    node.pk = pk[1];
    node.nonce = Number(nonce[1]);
  }
  return node;
}

/** The shape of a node reference. Its proof fields are not judged here: a member checks them (and counts what fails) before it takes the node. */
export function isNodeRef(v: unknown): v is NodeRef {
  const n = v as NodeRef;
  return !!n && typeof n === 'object' && typeof n.id === 'string' && /^[0-9a-f]{40}$/.test(n.id) && typeof n.host === 'string' && n.host.length > 0 && n.host.length < 256 && Number.isInteger(n.port) && n.port > 0 && n.port < 65536;
}

const isDigest = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{8}$/.test(v);
const isKey = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{40}$/.test(v);
const isNodeList = (v: unknown) => Array.isArray(v) && v.length <= 64 && v.every(isNodeRef);
const isRecordList = (v: unknown) => Array.isArray(v) && v.length <= 1_000 && v.every((r) => typeof parseRecord(r) !== 'string');
const isDigestList = (v: unknown) => Array.isArray(v) && v.length <= SYNC_BATCH && v.every((d) => typeof d === 'string' && /^[0-9a-f]{16}$/.test(d));
const isType = (v: unknown) => v === undefined || v === 'name' || v === 'binding';

function checkOpBody(op: OverlayOp, b: Record<string, unknown>): string | undefined {
  switch (op) {
    case 'ping':
      if (b.stabilize !== undefined && typeof b.stabilize !== 'boolean') return 'stabilize must be true or false';
      if (b.successor !== undefined && !isNodeRef(b.successor)) return 'successor is not a node reference';
      return b.merge === undefined || isNodeRef(b.merge) ? undefined : 'merge is not a node reference';
    case 'neighbours':
      if (b.notify !== undefined && typeof b.notify !== 'boolean') return 'notify must be true or false';
      if (b.brief !== undefined && typeof b.brief !== 'boolean') return 'brief must be true or false';
      return b.known === undefined || isDigest(b.known) ? undefined : 'known must be a successor-list digest';
    case 'find-closest':
      return isKey(b.key) && (b.avoid === undefined || (Array.isArray(b.avoid) && b.avoid.length <= 64 && b.avoid.every(isKey))) ? undefined : 'key must be 40 hex digits';
    case 'lookup':
      return isKey(b.key) ? undefined : 'key must be 40 hex digits';
    case 'fetch':
    case 'get':
      if (b.slot !== undefined && (typeof b.slot !== 'string' || b.slot.length > 64)) return 'slot must be a string of at most 64 characters';
      return isKey(b.key) && isType(b.type) ? undefined : 'key must be 40 hex digits, type name or binding';
    case 'notify':
      return isNodeRef(b.node) ? undefined : 'node is not a node reference';
    case 'leave':
      return isNodeRef(b.node) && (b.predecessor === undefined || isNodeRef(b.predecessor)) && isNodeList(b.successors) ? undefined : 'bad leave';
    case 'store':
      return isRecordList(b.records) && typeof b.replica === 'boolean' ? undefined : 'records must be well-formed records';
    case 'put':
      return isRecordList(b.records) ? undefined : 'records must be well-formed records';
    case 'sync':
      return isDigestList(b.have) ? undefined : `have must be at most ${SYNC_BATCH} record digests of 16 hex digits`;
  }
}

function checkResponseBody(op: OverlayOp, b: Record<string, unknown>): string | undefined {
  if (!b || typeof b !== 'object') return 'not an object';
  switch (op) {
    case 'ping':
      return isNodeRef(b.node) ? undefined : 'node';
    case 'find-closest':
      return typeof b.done === 'boolean' && isNodeRef(b.node) && isNodeList(b.successors) ? undefined : 'node or successors';
    case 'lookup':
      return isNodeRef(b.node) && isNodeList(b.successors) && Number.isInteger(b.hops) ? undefined : 'node or successors';
    case 'neighbours':
      if (b.digest !== undefined && !isDigest(b.digest)) return 'digest';
      if (b.you !== undefined && typeof b.you !== 'boolean') return 'you';
      // The successors are left out only beside the digest that says they did not change.
      return (b.predecessor === undefined || isNodeRef(b.predecessor)) && (isNodeList(b.successors) || (b.successors === undefined && b.digest !== undefined)) ? undefined : 'predecessor or successors';
    case 'store':
    case 'put':
      return Number.isInteger(b.stored) && Array.isArray(b.rejected) ? undefined : 'stored';
    case 'fetch':
    case 'get':
      return isRecordList(b.records) ? undefined : 'records';
    case 'sync':
      return isDigestList(b.missing) ? undefined : 'missing';
    case 'notify':
    case 'leave':
      return undefined;
  }
}
