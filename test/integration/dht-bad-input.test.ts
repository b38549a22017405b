// Bad input from the mainline DHT: an engine's DHT node, started from a small private DHT and
// from hostile DHT nodes this test writes by hand (a raw UDP socket and bencode), gets junk KRPC,
// answers it never asked for, oversized datagrams, garbage compact nodes and get_peers answers
// naming thousands of addresses that answer no SIP. It drops and counts every bad datagram,
// stays up and answers its control API, tries at most 32 of the addresses, and its ring stays
// the ring it was.
import assert from 'node:assert/strict';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import bencode from 'bencode';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { MAX_PEERS_PER_LOOKUP } from '../../native/services/dht/index.js';
import { overlayInfohash } from '../../native/wire/dht/overlay-infohash.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { startPrivateDht, type PrivateDht } from '../support/private-dht.js';
import { FAST_CHORD } from '../support/engines.js';

const FAST = { ...FAST_CHORD, requestTimeoutMs: 300 };
const INFOHASH = overlayInfohash('peerdial');
/** Peers each hostile node names: 1,000 compact peers fill one 8 KB datagram. */
const PEERS_PER_NODE = 1_000;

const bytes = (v: unknown): string => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : '');

/**
 * A DHT node that lies. Its ID sits next to the overlay's infohash (where a Sybil would put it),
 * so lookups ask it; it answers ping and announce_peer properly, every find_node with garbage
 * compact nodes, and get_peers for the overlay with PEERS_PER_NODE loopback addresses where
 * nothing answers SIP.
 */
class HostileDhtNode {
  readonly id: Buffer;
  readonly socket: Socket = dgram.createSocket('udp4');
  /** Garbage answers sent, by the port they went to (the engine's: each one a datagram it must drop). */
  readonly garbageTo = new Map<number, number>();
  /** Addresses named in get_peers answers, by the port they went to. */
  readonly namedTo = new Map<number, Set<string>>();
  enginePort = 0;
  introduced = false;

  get garbageToEngine(): number {
    return this.garbageTo.get(this.enginePort) ?? 0;
  }

  get namedToEngine(): Set<string> {
    return this.namedTo.get(this.enginePort) ?? new Set();
  }
  private readonly values: Buffer[];

  constructor(readonly index: number) {
    this.id = Buffer.from(INFOHASH);
    this.id[19] ^= index + 1;
    // 127.1.I.x:5062 .. : loopback, so believed from a private DHT; nothing listens there.
    this.values = Array.from({ length: PEERS_PER_NODE }, (_, i) => Buffer.from([127, 1 + index, i >> 8, i & 255, 0x13, 0xc6]));
    this.socket.on('message', (buf, from) => this.onMessage(buf, from));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', () => resolve()));
    return `127.0.0.1:${this.socket.address().port}`;
  }

  send(message: unknown, port: number): void {
    this.socket.send(bencode.encode(message), port, '127.0.0.1');
  }

  /** Makes itself known the way any DHT node does: it queries, and the queried adds it to its table. */
  introduceTo(port: number): void {
    this.send({ t: 'hi', y: 'q', q: 'ping', a: { id: this.id } }, port);
  }

  private onMessage(buf: Buffer, from: RemoteInfo): void {
    let message: Record<string, unknown>;
    try {
      message = bencode.decode(buf) as Record<string, unknown>;
    } catch {
      return;
    }
    if (bytes(message.y) === 'r' && bytes(message.t) === 'hi' && from.port === this.enginePort) this.introduced = true;
    if (bytes(message.y) !== 'q') return;
    const a = (message.a ?? {}) as Record<string, unknown>;
    const answer = (r: Record<string, unknown>) => this.socket.send(bencode.encode({ t: message.t, y: 'r', r: { id: this.id, ...r } }), from.port, from.address);
    switch (bytes(message.q)) {
      case 'find_node':
      case 'get': {
        // Three kinds of garbage in turn: a node cut short, a node with port 0, a node at 255.255.255.255.
        const sent = this.garbageTo.get(from.port) ?? 0;
        const kind = sent % 3;
        const node = Buffer.concat([Buffer.alloc(20, 0xee), kind === 2 ? Buffer.from([255, 255, 255, 255]) : Buffer.from([127, 0, 0, 1]), Buffer.from(kind === 1 ? [0, 0] : [0x1a, 0xe1])]);
        this.garbageTo.set(from.port, sent + 1);
        return answer({ nodes: kind === 0 ? node.subarray(0, 25) : node, token: 'tk' });
      }
      case 'get_peers':
        if (Buffer.from(a.info_hash as Uint8Array).equals(INFOHASH)) {
          const named = this.namedTo.get(from.port) ?? new Set<string>();
          for (const v of this.values) named.add(`${v[0]}.${v[1]}.${v[2]}.${v[3]}`);
          this.namedTo.set(from.port, named);
          return answer({ token: 'tk', values: this.values });
        }
        return answer({ token: 'tk', nodes: Buffer.alloc(0) });
      default:
        return answer({});
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const engines: Engine[] = [];
const dirs: string[] = [];
const hostile = [0, 1, 2].map((i) => new HostileDhtNode(i));
let dht: PrivateDht;
let ann: Engine;
let ben: Engine;
let api: NodeControl;

async function start(user: string, options: Partial<EngineOptions>): Promise<Engine> {
  const dir = await tempDataDir();
  dirs.push(dir);
  const engine = await Engine.start({
    dataDir: dir,
    bind: '127.0.0.1',
    sipPort: 0,
    user: { userName: user },
    overlayConfig: FAST,
    registrationRefreshMs: 2_000,
    mdns: false,
    multicastRegister: false,
    ...options,
  });
  engines.push(engine);
  return engine;
}

const garbage = () => hostile.reduce((n, h) => n + h.garbageToEngine, 0);
const stats = async () => (await api.invoke('dht.status', {})).stats;
const ringOf = (e: Engine) => ({ successors: e.overlay.node?.table.successors.map((n) => n.port), predecessor: e.overlay.node?.table.predecessor?.port });

describe('bad input from the mainline DHT', () => {
  before(async () => {
    dht = await startPrivateDht(12);
    const hostileEndpoints = await Promise.all(hostile.map((h) => h.listen()));
    // A ring of two first, with the DHT off; then ann turns it on, from the hostile nodes and the private DHT.
    ann = await start('ann', { dht: false, dhtBootstrap: [...hostileEndpoints, ...dht.bootstrap], serveUi: true });
    ben = await start('ben', { dht: false, bootstrap: [`127.0.0.1:${ann.sip.port}`] });
    await until('a ring of two', async () => ann.overlay.node?.table.successors[0]?.port === ben.sip.port && ben.overlay.node?.table.successors[0]?.port === ann.sip.port);
    api = controlOf({ uiUrl: ann.uiUrl! });
    await api.invoke('dht.configure', { enabled: true });
    const endpoint = await until('ann\'s DHT endpoint', async () => ann.dht.endpoint);
    for (const h of hostile) h.enginePort = Number(endpoint.split(':')[1]);
    await until('ann\'s DHT ready', async () => (await api.invoke('dht.status', {})).state === 'ready');
  });
  after(async () => {
    api?.close();
    await Promise.all(engines.map((e) => e.stop()));
    await Promise.all(hostile.map((h) => h.close()));
    await dht?.close();
    await Promise.all(dirs.map(removeDir));
  });

  it('drops and counts every malformed, unasked or oversized datagram, and stays up and ready', async () => {
    const nodesBefore = (await api.invoke('dht.status', {})).nodes;
    const port = hostile[0].enginePort;
    const id = hostile[0].id;
    // Garbage answers to ann's own find_node queries (her bootstrap asked the hostile nodes) are in the count too.
    const before = (await stats()).malformed;
    const garbageBefore = garbage();
    assert.equal(before, garbageBefore, 'each garbage find_node answer so far was dropped');
    const huge = Array.from({ length: 7_000 }, (_, i) => Buffer.from([127, 2, i >> 8, i & 255, 0x13, 0xc4]));
    const junk: Array<Uint8Array> = [
      Buffer.from('this is not bencode'),
      Buffer.from('d1:t2:aa1:y1:q'), // cut short
      bencode.encode(42),
      bencode.encode(['a', 'list']),
      bencode.encode({ t: 'aa', y: 'x', x: {} }), // no such type
      bencode.encode({ t: 'aa', y: 'q', q: 'get_peers', a: { id, info_hash: 5 } }), // threw inside bittorrent-dht: the process ended
      bencode.encode({ t: 'aa', y: 'q', q: 'find_node', a: { id, target: 5 } }), // likewise
      bencode.encode({ t: 'aa', y: 'q', q: 'announce_peer', a: { id, info_hash: INFOHASH, token: 7, port: 5060 } }), // likewise
      bencode.encode({ t: 'aa', y: 'q', q: 'sample_everything', a: { id } }), // a method nobody serves
      bencode.encode({ t: Buffer.from([0xbe, 0xef]), y: 'r', r: { id } }), // an answer to nothing we asked
      bencode.encode({ t: Buffer.from([0xbe, 0xf0]), y: 'e', e: [201, 'A Generic Error Ocurred'] }), // an error to nothing we asked
      bencode.encode({ t: Buffer.from([0xbe, 0xf1]), y: 'r', r: { id, nodes: Buffer.alloc(27, 0x41) } }), // garbage compact nodes
      bencode.encode({ t: Buffer.from([0xbe, 0xf2]), y: 'r', r: { id, token: 'tk', values: huge } }), // 56 KB of peers
      Buffer.alloc(60 * 1024, 0x69), // 60 KB of junk
    ];
    assert.ok(junk[12].length > 50_000);
    const sender = hostile[0].socket;
    for (const datagram of junk) sender.send(datagram, port, '127.0.0.1');

    await until(
      'every bad datagram counted',
      async () => (await stats()).malformed === before + junk.length + garbage() - garbageBefore,
      10_000,
      () => `malformed ${ann.dht.view().stats.malformed}, expected ${before} + ${junk.length} + new garbage answers`,
    );
    // Up, ready, answering; nothing joined; the ring is the ring it was.
    const status = await api.invoke('dht.status', {});
    assert.equal(status.state, 'ready');
    assert.equal(status.nodes, nodesBefore, 'no sender of junk got into the routing table');
    assert.equal((await api.invoke('overlay.status', {})).overlay, 'peerdial');
    assert.equal(status.stats.merged, 0);
    assert.deepEqual(ringOf(ann), { successors: [ben.sip.port], predecessor: ben.sip.port });
    // Still a working DHT node: an honest node's query gets its answer.
    const answered = await new Promise<Record<string, unknown>>((resolve) => {
      const probe = dgram.createSocket('udp4');
      probe.on('message', (buf) => {
        probe.close();
        resolve(bencode.decode(buf) as Record<string, unknown>);
      });
      probe.send(bencode.encode({ t: 'ok', y: 'q', q: 'ping', a: { id: Buffer.alloc(20, 3) } }), port, '127.0.0.1');
    });
    assert.equal(bytes(answered.y), 'r');
  });

  it('tries at most 32 of the thousands of addresses named, joins none, and answers its control API meanwhile', async () => {
    const before = await stats();
    const garbageBefore = garbage();
    for (const h of hostile) h.introduceTo(h.enginePort);
    // ann answered their pings: she read them, and took them into her routing table first (k-rpc does).
    await until('ann\'s answers to the hostile nodes\' pings', async () => hostile.every((h) => h.introduced));
    const lookup = api.invoke('dht.lookup', {});
    // While ann tries addresses that never answer (one SIP timeout each), her control API answers.
    await until('the first addresses tried', async () => (await stats()).unverified > before.unverified, 20_000);
    const asked = Date.now();
    const during = await api.invoke('dht.status', {});
    assert.ok(Date.now() - asked < 1_000, 'dht.status answers at once');
    assert.equal(during.state, 'ready');

    const after = (await lookup).stats;
    const named = hostile.reduce((n, h) => n + h.namedToEngine.size, 0);
    assert.ok(named >= 2 * PEERS_PER_NODE, `thousands named (${named})`);
    assert.equal(after.unverified - before.unverified, MAX_PEERS_PER_LOOKUP, 'at most 32 tried');
    assert.equal(after.notTried - before.notTried, named - MAX_PEERS_PER_LOOKUP, 'the rest counted, untried');
    assert.equal(after.merged, 0, 'none joined');
    assert.equal(after.refusedPrivate, 0, 'loopback is believed from a private DHT');
    assert.equal(after.malformed - before.malformed, garbage() - garbageBefore, 'only the garbage find_node answers dropped meanwhile');
    assert.deepEqual(ringOf(ann), { successors: [ben.sip.port], predecessor: ben.sip.port }, 'the ring is the ring it was');
    assert.deepEqual(ringOf(ben), { successors: [ann.sip.port], predecessor: ann.sip.port });
    assert.equal((await api.invoke('dht.status', {})).state, 'ready');
  });
});
