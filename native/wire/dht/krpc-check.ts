// What a KRPC datagram (BEP 5) must look like before the mainline DHT library may see it.
// bittorrent-dht 11 trusts the types of the fields it reads: a get_peers query whose info_hash is
// an integer throws inside its socket handler and ends the process; so do find_node and get with
// an integer target, and announce_peer with an integer token. This is a strict bencode reader
// plus the shapes of BEP 5 (and the BEP 44 get/put the library serves); anything else is named
// and dropped, never thrown.
//
// BEP 5, "KRPC Protocol": every message is a dictionary with "t" (transaction ID, a string) and
// "y" ("q", "r" or "e"); a query has "q" (method) and "a" (arguments, with the querier's 20-byte
// "id"); a response has "r" (with the responder's "id"); an error has "e", a list [code, message].
// "Compact node info" is 26 bytes per node (20-byte ID, 4-byte IPv4, 2-byte port); "compact peer
// info" is 6 bytes (IPv4, port): the library reads no other (nor BEP 32's IPv6 forms but nodes6).

/** Honest KRPC fits in one unfragmented datagram (libtorrent answers at most 100 peers, ~1 KB); 8 KB is generous. */
export const MAX_KRPC_BYTES = 8 * 1024;
const MAX_DEPTH = 8;
const ID_BYTES = 20;
const COMPACT_NODE_BYTES = 26;
const COMPACT_NODE6_BYTES = 38;

export type BValue = number | Uint8Array | BValue[] | BDict;
export interface BDict {
  [key: string]: BValue;
}

export type KrpcDrop = 'oversized' | 'not-bencode' | 'not-krpc' | 'bad-query' | 'unknown-method' | 'bad-response' | 'bad-error';

export type KrpcCheck = { ok: true; y: 'q' | 'r' | 'e'; t: Uint8Array; message: BDict } | { ok: false; drop: KrpcDrop; detail: string };

/** Decodes one bencoded value taking the whole buffer; undefined for junk, trailing bytes or nesting past MAX_DEPTH. */
export function decodeBencode(buf: Uint8Array): BValue | undefined {
  let at = 0;
  const text = (from: number, to: number) => Buffer.from(buf.buffer, buf.byteOffset + from, to - from).toString('latin1');
  const readInt = (end: number): number | undefined => {
    const digits = text(at, end);
    if (!/^(0|-?[1-9]\d*)$/.test(digits)) return undefined;
    const n = Number(digits);
    return Number.isSafeInteger(n) ? n : undefined;
  };
  const value = (depth: number): BValue | undefined => {
    if (depth > MAX_DEPTH || at >= buf.length) return undefined;
    const c = buf[at];
    if (c === 0x69 /* i */) {
      const end = buf.indexOf(0x65 /* e */, at + 1);
      if (end < 0) return undefined;
      at++;
      const n = readInt(end);
      at = end + 1;
      return n;
    }
    if (c >= 0x30 && c <= 0x39) {
      const colon = buf.indexOf(0x3a /* : */, at);
      if (colon < 0 || colon - at > 7) return undefined;
      const length = /^(0|[1-9]\d*)$/.test(text(at, colon)) ? Number(text(at, colon)) : -1;
      if (length < 0 || colon + 1 + length > buf.length) return undefined;
      at = colon + 1 + length;
      return buf.subarray(colon + 1, at);
    }
    if (c === 0x6c /* l */) {
      at++;
      const list: BValue[] = [];
      while (at < buf.length && buf[at] !== 0x65) {
        const item = value(depth + 1);
        if (item === undefined) return undefined;
        list.push(item);
      }
      if (at >= buf.length) return undefined;
      at++;
      return list;
    }
    if (c === 0x64 /* d */) {
      at++;
      const dict: BDict = Object.create(null) as BDict;
      while (at < buf.length && buf[at] !== 0x65) {
        const key = value(depth + 1);
        if (!(key instanceof Uint8Array)) return undefined;
        const item = value(depth + 1);
        if (item === undefined) return undefined;
        dict[Buffer.from(key).toString('latin1')] = item;
      }
      if (at >= buf.length) return undefined;
      at++;
      return dict;
    }
    return undefined;
  };
  const decoded = value(0);
  return decoded !== undefined && at === buf.length ? decoded : undefined;
}

/** Checks one datagram; `ok` ones are safe to hand to bittorrent-dht. */
export function checkKrpc(datagram: Uint8Array): KrpcCheck {
  if (datagram.length > MAX_KRPC_BYTES) return drop('oversized', `${datagram.length} bytes`);
  const message = decodeBencode(datagram);
  if (message === undefined) return drop('not-bencode', `${datagram.length} bytes`);
  if (!isDict(message)) return drop('not-krpc', 'not a dictionary');
  const { t, y } = message;
  if (!isBytes(t) || t.length === 0 || t.length > 64) return drop('not-krpc', 'no transaction id');
  const kind = isBytes(y) ? latin1(y) : undefined;
  if (kind === 'q') {
    const why = queryProblem(message);
    if (why) return why === 'unknown' ? drop('unknown-method', stringOf(message.q)) : drop('bad-query', why);
    return { ok: true, y: 'q', t, message };
  }
  if (kind === 'r') {
    const why = responseProblem(message.r);
    return why ? drop('bad-response', why) : { ok: true, y: 'r', t, message };
  }
  if (kind === 'e') {
    const e = message.e;
    return Array.isArray(e) && typeof e[0] === 'number' && isBytes(e[1]) ? { ok: true, y: 'e', t, message } : drop('bad-error', 'e is not [code, message]');
  }
  return drop('not-krpc', `y is ${kind === undefined ? 'missing' : JSON.stringify(kind)}`);
}

/** The methods the library answers (BEP 5, BEP 44), with their arguments' shapes. */
function queryProblem(m: BDict): string | undefined {
  const a = m.a;
  if (!isBytes(m.q)) return 'q is not a string';
  if (!isDict(a)) return 'a is not a dictionary';
  if (!isId(a.id)) return 'a.id is not 20 bytes';
  switch (latin1(m.q)) {
    case 'ping':
      return undefined;
    case 'find_node':
    case 'get':
      return isId(a.target) ? undefined : 'a.target is not 20 bytes';
    case 'get_peers':
      return isId(a.info_hash) ? undefined : 'a.info_hash is not 20 bytes';
    case 'announce_peer':
      if (!isId(a.info_hash)) return 'a.info_hash is not 20 bytes';
      if (!isBytes(a.token)) return 'a.token is not a string';
      if (a.implied_port !== undefined && typeof a.implied_port !== 'number') return 'a.implied_port is not an integer';
      return typeof a.port === 'number' ? undefined : 'a.port is not an integer';
    case 'put':
      if (!isBytes(a.token)) return 'a.token is not a string';
      if (a.v === undefined) return 'a.v is missing';
      if (a.k !== undefined && !(isBytes(a.k) && a.k.length === 32)) return 'a.k is not 32 bytes';
      if (a.sig !== undefined && !(isBytes(a.sig) && a.sig.length === 64)) return 'a.sig is not 64 bytes';
      if ((a.k === undefined) !== (a.sig === undefined)) return 'a.k and a.sig go together';
      if (a.salt !== undefined && !isBytes(a.salt)) return 'a.salt is not a string';
      if (a.seq !== undefined && typeof a.seq !== 'number') return 'a.seq is not an integer';
      if (a.cas !== undefined && typeof a.cas !== 'number') return 'a.cas is not an integer';
      return undefined;
    default:
      return 'unknown';
  }
}

function responseProblem(r: BValue | undefined): string | undefined {
  if (!isDict(r)) return 'r is not a dictionary';
  if (!isId(r.id)) return 'r.id is not 20 bytes';
  if (r.token !== undefined && !isBytes(r.token)) return 'r.token is not a string';
  if (r.nodes !== undefined) {
    const why = compactNodesProblem(r.nodes, COMPACT_NODE_BYTES);
    if (why) return `r.nodes ${why}`;
  }
  if (r.nodes6 !== undefined) {
    const why = compactNodesProblem(r.nodes6, COMPACT_NODE6_BYTES);
    if (why) return `r.nodes6 ${why}`;
  }
  if (r.values !== undefined) {
    if (!Array.isArray(r.values)) return 'r.values is not a list';
    for (const v of r.values) if (!isBytes(v) || v.length !== 6) return 'r.values holds something not a 6-byte compact peer';
  }
  return undefined;
}

/** A list of compact node infos: whole records, each with a port and an address one can send to. */
function compactNodesProblem(nodes: BValue, size: number): string | undefined {
  if (!isBytes(nodes)) return 'is not a string';
  if (nodes.length % size !== 0) return `is ${nodes.length} bytes, not whole ${size}-byte nodes`;
  for (let i = 0; i < nodes.length; i += size) {
    const port = (nodes[i + size - 2] << 8) | nodes[i + size - 1];
    const first = nodes[i + ID_BYTES];
    if (port === 0) return 'names a node with port 0';
    // IPv4 0/8 (this network) and 224/4, 240/4 (multicast, reserved, broadcast) are nobody to query.
    if (size === COMPACT_NODE_BYTES && (first === 0 || first >= 224)) return 'names a node at an unusable address';
  }
  return undefined;
}

function drop(reason: KrpcDrop, detail: string): KrpcCheck {
  return { ok: false, drop: reason, detail };
}

function isDict(v: BValue | undefined): v is BDict {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

function isBytes(v: BValue | undefined): v is Uint8Array {
  return v instanceof Uint8Array;
}

function isId(v: BValue | undefined): boolean {
  return isBytes(v) && v.length === ID_BYTES;
}

function latin1(v: Uint8Array): string {
  return Buffer.from(v).toString('latin1');
}

function stringOf(v: BValue | undefined): string {
  return isBytes(v) ? JSON.stringify(latin1(v).slice(0, 32)) : typeof v;
}
