// The TURN server core (RFC 8656) on a fake clock: the long-term credential challenge and stale
// nonces, Allocate / Refresh / expiry, permissions and their expiry, channels, data both ways,
// what is dropped without a permission, every quota, and malformed input counted, never thrown.
// Also the relay credentials its password lookup uses.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { issueRelayCredential, parseRelayUsername, passwordFor } from '../../../native/proto/nat/relay-credentials.js';
import {
  TurnServer,
  type ClientPath,
  type RelayPortRequest,
  type TurnServerHost,
  type TurnServerOptions,
} from '../../../native/proto/nat/turn-server.js';
import { longTermKey, verifyIntegrity } from '../../../native/wire/stun/integrity.js';
import {
  ALLOCATE,
  ATTR,
  BINDING,
  CHANNEL_BIND,
  CREATE_PERMISSION,
  DATA,
  REFRESH,
  SEND,
  attribute,
  decodeErrorCode,
  decodeXorAddress,
  encodeXorAddress,
  parseStun,
  serializeStun,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../../native/wire/stun/message.js';
import { decodeUint32, encodeChannelData, encodeChannelNumber, encodeRequestedTransport, encodeUint32, parseChannelData } from '../../../native/wire/stun/turn.js';
import { FakeClock } from '../../support/fake-clock.js';

const SERVER = { address: '198.51.100.1', port: 3478 };
const RELAY_IP = '198.51.100.1';
const PEER = { address: '203.0.113.9', port: 40000 };
const PEER_SAME_IP = { address: '203.0.113.9', port: 40002 };
const OTHER_PEER = { address: '203.0.113.77', port: 41000 };
const REALM = 'peerdial.test';
const MEMBER_SECRET = 'member-secret';
const NOON = Date.UTC(2026, 0, 1, 12);

function udpPath(port = 50001, address = '192.0.2.10'): ClientPath {
  return { transport: 'udp', client: { address, port }, server: SERVER };
}
function tcpPath(connection: string, port = 50100): ClientPath {
  return { transport: 'tcp', client: { address: '192.0.2.10', port }, server: SERVER, connection };
}
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type Answer = StunMessage & { bytes: Buffer };

function decode(bytes: Buffer): Answer {
  const parsed = parseStun(bytes);
  assert.ok(parsed.ok, `a STUN message: ${parsed.ok ? '' : parsed.reason}`);
  return { ...parsed.message, bytes };
}
function errorCode(message: StunMessage): number | undefined {
  const value = attribute(message, ATTR.ERROR_CODE);
  return value && decodeErrorCode(value)?.code;
}
function family(byte: number): Buffer {
  return Buffer.from([byte, 0, 0, 0]);
}

/** The server with a host that records what it is told to do. */
class Harness {
  readonly clock = new FakeClock();
  readonly toClient: { path: ClientPath; bytes: Buffer }[] = [];
  readonly toPeer: { allocationId: string; peer: TransportAddress; bytes: Buffer }[] = [];
  readonly opened: RelayPortRequest[] = [];
  readonly closed: string[] = [];
  readonly released: number[] = [];
  readonly users = new Map([
    ['alice', 'alice-pw'],
    ['bob', 'bob-pw'],
  ]);
  failOpen = false;
  private nextPort = 50000;
  readonly server: TurnServer;

  constructor(options: Partial<TurnServerOptions> = {}) {
    this.clock.now = NOON;
    const host: TurnServerHost = {
      sendToClient: (path, bytes) => this.toClient.push({ path, bytes }),
      sendToPeer: (allocationId, peer, bytes) => this.toPeer.push({ allocationId, peer, bytes: Buffer.from(bytes) }),
      openRelay: async (request) => {
        this.opened.push(request);
        if (this.failOpen) throw new Error('no port');
        if (request.reserved) return { relay: request.reserved };
        let port = this.nextPort;
        if (request.even && port % 2) port++;
        this.nextPort = port + (request.reserveNext ? 2 : 1);
        return { relay: { address: RELAY_IP, port }, reserved: request.reserveNext ? { address: RELAY_IP, port: port + 1 } : undefined };
      },
      closeRelay: (id) => this.closed.push(id),
      releaseReserved: (port) => this.released.push(port.port),
      password: (username) => this.users.get(username) ?? passwordFor(MEMBER_SECRET, username, this.clock.now),
      timers: this.clock,
      now: () => this.clock.now,
    };
    this.server = new TurnServer(host, { realm: REALM, software: 'peerdial-test', ...options, policy: { allowedPeers: [], ...options.policy } });
  }

  get counters() {
    return this.server.stats().counters;
  }

  /** A datagram from a peer at an allocation's relay port; returns what the client got. */
  fromPeer(client: Client, bytes: Buffer, peer: TransportAddress = PEER): Buffer[] {
    const before = this.toClient.length;
    this.server.relayReceived(client.allocationId, bytes, peer);
    return this.toClient.slice(before).filter((o) => o.path === client.path).map((o) => o.bytes);
  }
}

/** A TURN client, as far as a test needs one. */
class Client {
  nonce?: string;
  allocationId = '';
  relay?: TransportAddress;

  constructor(
    readonly h: Harness,
    readonly path: ClientPath = udpPath(),
    readonly username = 'alice',
    readonly password = 'alice-pw',
  ) {}

  get key(): Buffer {
    return longTermKey(this.username, REALM, this.password);
  }

  /** One request and its one answer; authenticated requests carry USERNAME, REALM, NONCE and MESSAGE-INTEGRITY. */
  async send(
    method: number,
    attributes: StunAttribute[] | ((transactionId: Buffer) => StunAttribute[]) = [],
    options: { auth?: boolean; fingerprint?: boolean; transactionId?: Buffer; nonce?: string } = {},
  ): Promise<Answer> {
    const transactionId = options.transactionId ?? randomBytes(12);
    const list = typeof attributes === 'function' ? attributes(transactionId) : attributes;
    const auth = options.auth ?? true;
    const credentials: StunAttribute[] = auth
      ? [
          { type: ATTR.USERNAME, value: Buffer.from(this.username) },
          { type: ATTR.REALM, value: Buffer.from(REALM) },
          { type: ATTR.NONCE, value: Buffer.from(options.nonce ?? this.nonce ?? '') },
        ]
      : [];
    const bytes = serializeStun(
      { method, klass: 'request', transactionId, attributes: [...list, ...credentials] },
      { integrityKey: auth ? this.key : undefined, fingerprint: options.fingerprint ?? true },
    );
    const answers = await this.deliver(bytes);
    assert.equal(answers.length, 1, 'one answer');
    return decode(answers[0]);
  }

  /** Bytes to the server; what came back to this client. */
  async deliver(bytes: Buffer): Promise<Buffer[]> {
    const before = this.h.toClient.length;
    this.h.server.receive(bytes, this.path);
    await flush();
    return this.h.toClient.slice(before).filter((o) => o.path === this.path).map((o) => o.bytes);
  }

  /** Asks once without credentials and keeps the nonce of the 401. */
  async learnNonce(): Promise<string> {
    const challenge = await this.send(ALLOCATE, [], { auth: false });
    this.nonce = attribute(challenge, ATTR.NONCE)!.toString();
    return this.nonce;
  }

  /** RFC 8489 9.2.3: first without credentials to learn the nonce, and again after a 438. */
  async request(method: number, attributes: StunAttribute[] | ((transactionId: Buffer) => StunAttribute[]) = [], options: { fingerprint?: boolean; transactionId?: Buffer } = {}): Promise<Answer> {
    if (!this.nonce) {
      const challenge = await this.send(method, attributes, { auth: false });
      assert.equal(errorCode(challenge), 401);
      this.nonce = attribute(challenge, ATTR.NONCE)!.toString();
    }
    let answer = await this.send(method, attributes, options);
    if (errorCode(answer) === 438) {
      this.nonce = attribute(answer, ATTR.NONCE)!.toString();
      answer = await this.send(method, attributes, options);
    }
    return answer;
  }

  async allocate(extra: StunAttribute[] = [], options: { fingerprint?: boolean; transactionId?: Buffer } = {}): Promise<Answer> {
    const answer = await this.request(ALLOCATE, [{ type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) }, ...extra], options);
    if (answer.klass === 'success') {
      this.allocationId = this.h.opened[this.h.opened.length - 1].allocationId;
      this.relay = decodeXorAddress(attribute(answer, ATTR.XOR_RELAYED_ADDRESS)!, answer.transactionId);
    }
    return answer;
  }

  permit(...peers: TransportAddress[]): Promise<Answer> {
    return this.request(CREATE_PERMISSION, (tid) => peers.map((p) => ({ type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(p, tid) })));
  }

  bind(channel: number, peer: TransportAddress): Promise<Answer> {
    return this.request(CHANNEL_BIND, (tid) => [
      { type: ATTR.CHANNEL_NUMBER, value: encodeChannelNumber(channel) },
      { type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, tid) },
    ]);
  }

  refresh(lifetime?: number): Promise<Answer> {
    return this.request(REFRESH, lifetime === undefined ? [] : [{ type: ATTR.LIFETIME, value: encodeUint32(lifetime) }]);
  }

  /** A Send indication (RFC 8656 11.1): no credentials, no answer. */
  async sendIndication(peer: TransportAddress, data: Buffer, extra: StunAttribute[] = []): Promise<void> {
    const transactionId = randomBytes(12);
    const bytes = serializeStun({
      method: SEND,
      klass: 'indication',
      transactionId,
      attributes: [{ type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(peer, transactionId) }, { type: ATTR.DATA, value: data }, ...extra],
    });
    assert.deepEqual(await this.deliver(bytes), []);
  }

  async channelData(channel: number, data: Buffer): Promise<void> {
    assert.deepEqual(await this.deliver(encodeChannelData(channel, data, this.path.transport === 'tcp')), []);
  }
}

function assertIntegrity(answer: Answer, key: Buffer): void {
  assert.equal(verifyIntegrity(answer.bytes, key), 'ok', 'MESSAGE-INTEGRITY with the request key');
}

describe('TURN server: long-term credentials (RFC 8489 9.2)', () => {
  it('challenges a request without credentials with 401, REALM and NONCE, then allocates with them', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const challenge = await alice.send(ALLOCATE, [{ type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) }], { auth: false });
    assert.equal(challenge.klass, 'error');
    assert.equal(errorCode(challenge), 401);
    assert.equal(attribute(challenge, ATTR.REALM)!.toString(), REALM);
    assert.ok(attribute(challenge, ATTR.NONCE)!.length > 0);
    assert.equal(attribute(challenge, ATTR.MESSAGE_INTEGRITY), undefined, 'a challenge carries no MESSAGE-INTEGRITY');
    assert.equal(h.opened.length, 0, 'no relay port for an unauthenticated request');

    alice.nonce = attribute(challenge, ATTR.NONCE)!.toString();
    const answer = await alice.allocate();
    assert.equal(answer.klass, 'success');
    assertIntegrity(answer, alice.key);
    assert.ok(attribute(answer, ATTR.FINGERPRINT), 'the request had FINGERPRINT: so does the answer');
    assert.deepEqual(decodeXorAddress(attribute(answer, ATTR.XOR_MAPPED_ADDRESS)!, answer.transactionId), alice.path.client);
    assert.deepEqual(alice.relay, { address: RELAY_IP, port: 50000 });
    assert.equal(decodeUint32(attribute(answer, ATTR.LIFETIME)), 600);
    assert.equal(h.counters.challenged, 1);
    assert.equal(h.server.stats().allocations, 1);
  });

  it('answers without FINGERPRINT a client that sends none', async () => {
    const h = new Harness();
    const answer = await new Client(h).allocate([], { fingerprint: false });
    assert.equal(answer.klass, 'success');
    assert.equal(attribute(answer, ATTR.FINGERPRINT), undefined);
  });

  it('refuses a wrong password, an unknown user and a foreign realm with 401, and counts them', async () => {
    const h = new Harness();
    for (const client of [new Client(h, udpPath(1), 'alice', 'wrong'), new Client(h, udpPath(2), 'mallory', 'x')]) {
      const answer = await client.allocate();
      assert.equal(errorCode(answer), 401);
      assert.equal(attribute(answer, ATTR.MESSAGE_INTEGRITY), undefined);
    }
    const alice = new Client(h, udpPath(3));
    const nonce = await alice.learnNonce();
    const foreign = serializeStun(
      {
        method: ALLOCATE,
        klass: 'request',
        transactionId: randomBytes(12),
        attributes: [
          { type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) },
          { type: ATTR.USERNAME, value: Buffer.from('alice') },
          { type: ATTR.REALM, value: Buffer.from('elsewhere.example') },
          { type: ATTR.NONCE, value: Buffer.from(nonce) },
        ],
      },
      { integrityKey: longTermKey('alice', 'elsewhere.example', 'alice-pw') },
    );
    assert.equal(errorCode(decode((await alice.deliver(foreign))[0])), 401);
    assert.equal(h.counters.badCredentials, 3);
    assert.equal(h.opened.length, 0);
  });

  it('answers 400 to MESSAGE-INTEGRITY without USERNAME, REALM or NONCE', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const bytes = serializeStun(
      { method: ALLOCATE, klass: 'request', transactionId: randomBytes(12), attributes: [{ type: ATTR.USERNAME, value: Buffer.from('alice') }] },
      { integrityKey: alice.key },
    );
    assert.equal(errorCode(decode((await alice.deliver(bytes))[0])), 400);
    assert.equal(h.counters.badRequest, 1);
  });

  it('takes member-issued relay credentials, and refuses them once expired', async () => {
    const h = new Harness();
    const credential = issueRelayCredential(MEMBER_SECRET, 'id-7f3a', 60, h.clock.now);
    const client = new Client(h, udpPath(), credential.username, credential.password);
    assert.equal((await client.allocate()).klass, 'success');
    h.clock.advance(61_000);
    const late = await client.refresh();
    assert.equal(errorCode(late), 401, 'an expired credential is an unknown user');
    assert.equal(h.counters.badCredentials, 1);
  });
});

describe('TURN server: nonces', () => {
  it('answers 438 with a new nonce once the nonce is stale, and the retry succeeds', async () => {
    const h = new Harness({ nonceLifetimeSeconds: 120 });
    const alice = new Client(h);
    await alice.allocate();
    const oldNonce = alice.nonce!;
    h.clock.advance(121_000);
    const stale = await alice.send(REFRESH);
    assert.equal(errorCode(stale), 438);
    assert.equal(attribute(stale, ATTR.REALM)!.toString(), REALM);
    const fresh = attribute(stale, ATTR.NONCE)!.toString();
    assert.notEqual(fresh, oldNonce);
    const retried = await alice.send(REFRESH, [], { nonce: fresh });
    assert.equal(retried.klass, 'success');
    assertIntegrity(retried, alice.key);
    assert.equal(h.counters.staleNonce, 1);
  });

  it('does not take a nonce handed to another address, nor a made-up one', async () => {
    const h = new Harness();
    const alice = new Client(h, udpPath(5000, '192.0.2.10'));
    await alice.allocate();
    const elsewhere = new Client(h, udpPath(5000, '192.0.2.99'));
    assert.equal(errorCode(await elsewhere.send(ALLOCATE, [], { nonce: alice.nonce })), 438);
    assert.equal(errorCode(await elsewhere.send(ALLOCATE, [], { nonce: '0'.repeat(34) })), 438);
    assert.equal(errorCode(await elsewhere.send(ALLOCATE, [], { nonce: 'not-a-nonce' })), 438);
    assert.equal(h.counters.staleNonce, 3);
  });
});

describe('TURN server: Allocate (RFC 8656 7.2)', () => {
  it('grants the default lifetime for less, caps more at the maximum', async () => {
    const h = new Harness();
    const short = await new Client(h, udpPath(1)).allocate([{ type: ATTR.LIFETIME, value: encodeUint32(30) }]);
    assert.equal(decodeUint32(attribute(short, ATTR.LIFETIME)), 600);
    const long = await new Client(h, udpPath(2)).allocate([{ type: ATTR.LIFETIME, value: encodeUint32(100_000) }]);
    assert.equal(decodeUint32(attribute(long, ATTR.LIFETIME)), 3600);
    const middle = await new Client(h, udpPath(3)).allocate([{ type: ATTR.LIFETIME, value: encodeUint32(1200) }]);
    assert.equal(decodeUint32(attribute(middle, ATTR.LIFETIME)), 1200);
  });

  it('answers a retransmitted Allocate with the same answer, and another one on the 5-tuple with 437', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const transactionId = randomBytes(12);
    const first = await alice.allocate([], { transactionId });
    const again = await alice.send(ALLOCATE, [{ type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) }], { transactionId });
    assert.deepEqual(again.bytes, first.bytes);
    assert.equal(h.opened.length, 1);
    assert.equal(errorCode(await alice.allocate()), 437);
    assert.equal(h.counters.allocationMismatch, 1);
  });

  it('ignores a retransmission while the relay port is being opened, then answers once', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const nonce = await alice.learnNonce();
    const transactionId = randomBytes(12);
    const bytes = serializeStun(
      {
        method: ALLOCATE,
        klass: 'request',
        transactionId,
        attributes: [
          { type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(17) },
          { type: ATTR.USERNAME, value: Buffer.from('alice') },
          { type: ATTR.REALM, value: Buffer.from(REALM) },
          { type: ATTR.NONCE, value: Buffer.from(nonce) },
        ],
      },
      { integrityKey: alice.key },
    );
    const before = h.toClient.length;
    h.server.receive(bytes, alice.path);
    h.server.receive(bytes, alice.path);
    await flush();
    const answers = h.toClient.slice(before).map((o) => decode(o.bytes));
    assert.equal(answers.length, 1);
    assert.equal(answers[0].klass, 'success');
    assert.equal(h.opened.length, 1);
  });

  it('refuses relaying over TCP (442) and a missing REQUESTED-TRANSPORT (400)', async () => {
    const h = new Harness();
    const alice = new Client(h);
    assert.equal(errorCode(await alice.request(ALLOCATE, [{ type: ATTR.REQUESTED_TRANSPORT, value: encodeRequestedTransport(6) }])), 442);
    const bare = await alice.request(ALLOCATE, []);
    assert.equal(errorCode(bare), 400);
    assertIntegrity(bare, alice.key);
    assert.equal(h.counters.unsupportedTransport, 1);
  });

  it('treats DONT-FRAGMENT as unknown (420 listing it): the DF bit cannot be set here', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const answer = await alice.allocate([{ type: ATTR.DONT_FRAGMENT, value: Buffer.alloc(0) }]);
    assert.equal(errorCode(answer), 420);
    assert.deepEqual(attribute(answer, ATTR.UNKNOWN_ATTRIBUTES), Buffer.from([0x00, 0x1a]));
    assertIntegrity(answer, alice.key);
    assert.equal(h.counters.unknownAttribute, 1);
  });

  it('refuses an IPv6 relay (440), and answers ADDITIONAL-ADDRESS-FAMILY IPv6 with IPv4 and ADDRESS-ERROR-CODE', async () => {
    const h = new Harness();
    assert.equal(errorCode(await new Client(h, udpPath(1)).allocate([{ type: ATTR.REQUESTED_ADDRESS_FAMILY, value: family(0x02) }])), 440);
    assert.equal((await new Client(h, udpPath(2)).allocate([{ type: ATTR.REQUESTED_ADDRESS_FAMILY, value: family(0x01) }])).klass, 'success');
    const dual = await new Client(h, udpPath(3)).allocate([{ type: ATTR.ADDITIONAL_ADDRESS_FAMILY, value: family(0x02) }]);
    assert.equal(dual.klass, 'success');
    const addressError = attribute(dual, 0x8001)!;
    assert.equal(addressError[0], 0x02);
    assert.equal(decodeErrorCode(addressError)?.code, 440);
    assert.equal(errorCode(await new Client(h, udpPath(4)).allocate([{ type: ATTR.ADDITIONAL_ADDRESS_FAMILY, value: family(0x01) }])), 400);
    assert.equal(
      errorCode(
        await new Client(h, udpPath(5)).allocate([
          { type: ATTR.REQUESTED_ADDRESS_FAMILY, value: family(0x01) },
          { type: ATTR.ADDITIONAL_ADDRESS_FAMILY, value: family(0x02) },
        ]),
      ),
      400,
    );
  });

  it('EVEN-PORT with R reserves the next port under a RESERVATION-TOKEN, which a second allocation claims', async () => {
    const h = new Harness();
    const rtp = await new Client(h, udpPath(1)).allocate([{ type: ATTR.EVEN_PORT, value: Buffer.from([0x80]) }]);
    assert.equal(rtp.klass, 'success');
    assert.deepEqual(h.opened[0], { allocationId: h.opened[0].allocationId, family: 4, even: true, reserveNext: true, reserved: undefined });
    const relay = decodeXorAddress(attribute(rtp, ATTR.XOR_RELAYED_ADDRESS)!, rtp.transactionId)!;
    assert.equal(relay.port % 2, 0);
    const token = attribute(rtp, ATTR.RESERVATION_TOKEN)!;
    assert.equal(token.length, 8);

    const rtcpClient = new Client(h, udpPath(2));
    const rtcp = await rtcpClient.allocate([{ type: ATTR.RESERVATION_TOKEN, value: token }]);
    assert.equal(rtcp.klass, 'success');
    assert.deepEqual(rtcpClient.relay, { address: RELAY_IP, port: relay.port + 1 });
    assert.equal(errorCode(await new Client(h, udpPath(3)).allocate([{ type: ATTR.RESERVATION_TOKEN, value: token }])), 508, 'a token is used once');
  });

  it('EVEN-PORT without R asks for an even port and reserves nothing', async () => {
    const h = new Harness();
    await new Client(h, udpPath(1)).allocate(); // takes 50000: the next free is odd
    const answer = await new Client(h, udpPath(2)).allocate([{ type: ATTR.EVEN_PORT, value: Buffer.from([0x00]) }]);
    assert.equal(answer.klass, 'success');
    assert.equal(h.opened[1].even, true);
    assert.equal(h.opened[1].reserveNext, false);
    assert.equal(attribute(answer, ATTR.RESERVATION_TOKEN), undefined);
    assert.equal(decodeXorAddress(attribute(answer, ATTR.XOR_RELAYED_ADDRESS)!, answer.transactionId)!.port % 2, 0);
  });

  it('releases an unclaimed reservation after 30 s; its token then gets 508', async () => {
    const h = new Harness();
    const rtp = await new Client(h, udpPath(1)).allocate([{ type: ATTR.EVEN_PORT, value: Buffer.from([0x80]) }]);
    const token = attribute(rtp, ATTR.RESERVATION_TOKEN)!;
    h.clock.advance(29_000);
    assert.deepEqual(h.released, []);
    h.clock.advance(1_000);
    assert.deepEqual(h.released, [50001]);
    assert.equal(errorCode(await new Client(h, udpPath(2)).allocate([{ type: ATTR.RESERVATION_TOKEN, value: token }])), 508);
  });

  it('refuses a RESERVATION-TOKEN with EVEN-PORT (400) and an unknown token (508)', async () => {
    const h = new Harness();
    const both = await new Client(h, udpPath(1)).allocate([
      { type: ATTR.EVEN_PORT, value: Buffer.from([0x80]) },
      { type: ATTR.RESERVATION_TOKEN, value: randomBytes(8) },
    ]);
    assert.equal(errorCode(both), 400);
    assert.equal(errorCode(await new Client(h, udpPath(2)).allocate([{ type: ATTR.RESERVATION_TOKEN, value: randomBytes(8) }])), 508);
    assert.equal(errorCode(await new Client(h, udpPath(3)).allocate([{ type: ATTR.EVEN_PORT, value: Buffer.from([0x80, 0]) }])), 400);
  });

  it('answers 508 when no relay port can be opened, and keeps no allocation', async () => {
    const h = new Harness();
    h.failOpen = true;
    const answer = await new Client(h).allocate();
    assert.equal(errorCode(answer), 508);
    assert.equal(h.server.stats().allocations, 0);
    h.failOpen = false;
    assert.equal((await new Client(h).allocate()).klass, 'success', 'the 5-tuple is free again');
  });

  it('answers a Binding request without credentials (a TURN server is a STUN server)', async () => {
    const h = new Harness();
    const alice = new Client(h);
    const answer = await alice.send(BINDING, [], { auth: false });
    assert.equal(answer.klass, 'success');
    assert.deepEqual(decodeXorAddress(attribute(answer, ATTR.XOR_MAPPED_ADDRESS)!, answer.transactionId), alice.path.client);
  });
});

describe('TURN server: Refresh and expiry (RFC 8656 8)', () => {
  it('an allocation expires after its lifetime: the relay port closes and requests then get 437', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    h.clock.advance(599_000);
    assert.deepEqual(h.closed, []);
    h.clock.advance(1_000);
    assert.deepEqual(h.closed, [alice.allocationId]);
    assert.equal(h.server.stats().allocations, 0);
    assert.equal(errorCode(await alice.refresh()), 437);
    assert.equal(errorCode(await alice.permit(PEER)), 437);
  });

  it('Refresh extends the lifetime', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    h.clock.advance(500_000);
    const answer = await alice.refresh(900);
    assert.equal(decodeUint32(attribute(answer, ATTR.LIFETIME)), 900);
    assertIntegrity(answer, alice.key);
    h.clock.advance(899_000);
    assert.equal(h.server.stats().allocations, 1);
    h.clock.advance(1_000);
    assert.equal(h.server.stats().allocations, 0);
  });

  it('Refresh with LIFETIME 0 deletes the allocation at once', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    const answer = await alice.refresh(0);
    assert.equal(answer.klass, 'success');
    assert.equal(decodeUint32(attribute(answer, ATTR.LIFETIME)), 0);
    assert.deepEqual(h.closed, [alice.allocationId]);
    assert.equal(h.clock.pending, 0, 'no timer left behind');
  });

  it('refuses requests from another username on the allocation\'s 5-tuple (441)', async () => {
    const h = new Harness();
    await new Client(h).allocate();
    const bob = new Client(h, udpPath(), 'bob', 'bob-pw');
    const answer = await bob.refresh(0);
    assert.equal(errorCode(answer), 441);
    assertIntegrity(answer, bob.key);
    assert.equal(h.server.stats().allocations, 1);
  });

  it('refuses a Refresh naming the other address family (443)', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    assert.equal(errorCode(await alice.request(REFRESH, [{ type: ATTR.REQUESTED_ADDRESS_FAMILY, value: family(0x02) }])), 443);
  });

  it('deletes the allocations of a TCP connection when it closes', async () => {
    const h = new Harness();
    const overTcp = new Client(h, tcpPath('c1'));
    await overTcp.allocate();
    await new Client(h, udpPath()).allocate();
    h.server.connectionClosed('c1');
    assert.deepEqual(h.closed, [overTcp.allocationId]);
    assert.equal(h.server.stats().allocations, 1);
  });
});

describe('TURN server: permissions and data (RFC 8656 9-11)', () => {
  it('relays a Send indication to a permitted peer, and the peer\'s datagrams back as Data indications', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    assertIntegrity(await alice.permit(PEER), alice.key);
    await alice.sendIndication(PEER, Buffer.from('hello peer'));
    assert.deepEqual(h.toPeer, [{ allocationId: alice.allocationId, peer: PEER, bytes: Buffer.from('hello peer') }]);

    const [down] = h.fromPeer(alice, Buffer.from('hello client'), PEER_SAME_IP);
    const data = decode(down);
    assert.equal(data.method, DATA);
    assert.equal(data.klass, 'indication');
    assert.deepEqual(decodeXorAddress(attribute(data, ATTR.XOR_PEER_ADDRESS)!, data.transactionId), PEER_SAME_IP, 'permissions are per IP: any port');
    assert.equal(attribute(data, ATTR.DATA)!.toString(), 'hello client');
    assert.ok(attribute(data, ATTR.FINGERPRINT), 'the client uses FINGERPRINT, so its indications have one');

    const stats = h.server.stats();
    assert.deepEqual(stats.bytesToday, { up: 10, down: 12 });
    assert.deepEqual(stats.bytesTotal, { up: 10, down: 12 });
    assert.equal(stats.perAllocation[0].bytesUp, 10);
    assert.equal(stats.perAllocation[0].bytesDown, 12);
    assert.equal(stats.perAllocation[0].permissions, 1);
  });

  it('drops and counts data to and from a peer without a permission', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    await alice.permit(PEER);
    await alice.sendIndication(OTHER_PEER, Buffer.from('x'));
    assert.deepEqual(h.fromPeer(alice, Buffer.from('unasked'), OTHER_PEER), []);
    assert.equal(h.toPeer.length, 0);
    assert.equal(h.counters.noPermission, 2);
  });

  it('permissions expire after 300 s; data does not refresh them, CreatePermission does', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    await alice.permit(PEER);
    h.clock.advance(200_000);
    assert.equal(h.fromPeer(alice, Buffer.from('a')).length, 1);
    h.clock.advance(100_000);
    assert.equal(h.fromPeer(alice, Buffer.from('b')).length, 0, 'expired though data flowed');
    await alice.sendIndication(PEER, Buffer.from('c'));
    assert.equal(h.toPeer.length, 0);
    assert.equal(h.counters.noPermission, 2);
    await alice.permit(PEER);
    assert.equal(h.fromPeer(alice, Buffer.from('d')).length, 1);
  });

  it('refuses peers in the deny list with 403 (loopback by default), all or nothing, until allowed at run time', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    const loopback = { address: '127.0.0.1', port: 3480 };
    const metadata = { address: '169.254.169.254', port: 80 };
    assert.equal(errorCode(await alice.permit(loopback)), 403);
    assert.equal(errorCode(await alice.permit(metadata)), 403);
    assert.equal(errorCode(await alice.permit(PEER, loopback)), 403);
    assert.equal(errorCode(await alice.bind(0x4000, loopback)), 403);
    assert.equal(h.server.stats().perAllocation[0].permissions, 0, 'not even the allowed peer of a refused request');
    assert.equal(h.counters.forbiddenPeer, 4);

    h.server.configure({ allowedPeers: ['127.0.0.1'] });
    assert.equal((await alice.permit(loopback)).klass, 'success');
    h.server.configure({ deniedPeers: ['203.0.113.0/24'] });
    assert.equal(errorCode(await alice.permit(PEER)), 403);
    assert.throws(() => h.server.configure({ deniedPeers: ['not-an-ip/8'] }), /not an address/);
  });

  it('refuses a peer of the other family (443) and a CreatePermission without a peer (400)', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    assert.equal(errorCode(await alice.permit({ address: '2001:db8::1', port: 5000 })), 443);
    assert.equal(errorCode(await alice.permit()), 400);
  });

  it('drops a Send indication without DATA, one with DONT-FRAGMENT, and one with no allocation', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await new Client(h, udpPath(9)).sendIndication(PEER, Buffer.from('no allocation'));
    await alice.allocate();
    await alice.permit(PEER);
    const transactionId = randomBytes(12);
    await alice.deliver(serializeStun({ method: SEND, klass: 'indication', transactionId, attributes: [{ type: ATTR.XOR_PEER_ADDRESS, value: encodeXorAddress(PEER, transactionId) }] }));
    await alice.sendIndication(PEER, Buffer.from('df'), [{ type: ATTR.DONT_FRAGMENT, value: Buffer.alloc(0) }]);
    assert.equal(h.toPeer.length, 0);
    assert.equal(h.counters.noAllocation, 1);
    assert.equal(h.counters.malformed, 1);
    assert.equal(h.counters.unknownAttribute, 1);
  });
});

describe('TURN server: channels (RFC 8656 12)', () => {
  it('binds a channel: ChannelData goes to the peer, the peer\'s datagrams come back as ChannelData', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    const bound = await alice.bind(0x4001, PEER);
    assert.equal(bound.klass, 'success');
    assertIntegrity(bound, alice.key);
    await alice.channelData(0x4001, Buffer.from('via channel'));
    assert.deepEqual(h.toPeer.map((p) => [p.peer, p.bytes.toString()]), [[PEER, 'via channel']]);

    const [down] = h.fromPeer(alice, Buffer.from('back'));
    assert.deepEqual(parseChannelData(down), { channel: 0x4001, data: Buffer.from('back') });
    assert.equal(down.length, 8);
    // Another port of the same IP has the permission the binding installed, but no channel.
    assert.equal(decode(h.fromPeer(alice, Buffer.from('other port'), PEER_SAME_IP)[0]).method, DATA);
  });

  it('pads ChannelData to a multiple of four over TCP (RFC 8656 12.5)', async () => {
    const h = new Harness();
    const alice = new Client(h, tcpPath('c9'));
    await alice.allocate();
    await alice.bind(0x4002, PEER);
    const [down] = h.fromPeer(alice, Buffer.from('abcde'));
    assert.equal(down.length, 12);
    assert.equal(down.readUInt16BE(2), 5);
    await alice.channelData(0x4002, Buffer.from('xyz'));
    assert.equal(h.toPeer[0].bytes.toString(), 'xyz');
  });

  it('refuses numbers outside the range, and moving a live binding to another peer or number', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    assert.equal(errorCode(await alice.bind(0x3fff, PEER)), 400);
    assert.equal(errorCode(await alice.bind(0x8000, PEER)), 400);
    assert.equal((await alice.bind(0x4000, PEER)).klass, 'success');
    assert.equal((await alice.bind(0x4000, PEER)).klass, 'success', 'the same binding again refreshes it');
    assert.equal(errorCode(await alice.bind(0x4000, OTHER_PEER)), 400, 'the number is bound to another peer');
    assert.equal(errorCode(await alice.bind(0x4003, PEER)), 400, 'the peer is bound to another number');
    assert.equal(errorCode(await alice.request(CHANNEL_BIND, [{ type: ATTR.CHANNEL_NUMBER, value: encodeChannelNumber(0x4005) }])), 400, 'no peer');
  });

  it('takes RFC 5766 channel numbers (0x5000-0x7FFF) unless told to keep to RFC 8656\'s', async () => {
    const lenient = new Harness();
    const alice = new Client(lenient);
    await alice.allocate();
    assert.equal((await alice.bind(0x690d, PEER)).klass, 'success');
    await alice.channelData(0x690d, Buffer.from('old range'));
    assert.equal(lenient.toPeer.length, 1);
    const [down] = lenient.fromPeer(alice, Buffer.from('back'));
    assert.equal(down.readUInt16BE(0), 0x690d);
    assert.equal(down.subarray(4).toString(), 'back');

    const strict = new Harness({ rfc5766Channels: false });
    const bob = new Client(strict);
    await bob.allocate();
    assert.equal(errorCode(await bob.bind(0x5000, PEER)), 400);
    await bob.deliver(encodeChannelData(0x5000, Buffer.from('x')));
    assert.equal(strict.counters.malformed, 1);
  });

  it('a channel expires after 10 minutes: its ChannelData is dropped, and the number may be bound anew', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate([{ type: ATTR.LIFETIME, value: encodeUint32(3600) }]);
    await alice.bind(0x4000, PEER);
    h.clock.advance(350_000);
    await alice.permit(PEER); // this permission outlives the channel
    h.clock.advance(250_000);
    await alice.channelData(0x4000, Buffer.from('late'));
    assert.equal(h.toPeer.length, 0);
    assert.equal(h.counters.unboundChannel, 1);
    assert.equal(decode(h.fromPeer(alice, Buffer.from('now a Data indication'))[0]).method, DATA);
    assert.equal((await alice.bind(0x4000, OTHER_PEER)).klass, 'success');
  });

  it('drops ChannelData on an unbound channel or with no allocation', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.channelData(0x4000, Buffer.from('x'));
    await alice.allocate();
    await alice.channelData(0x4004, Buffer.from('y'));
    assert.equal(h.counters.noAllocation, 1);
    assert.equal(h.counters.unboundChannel, 1);
  });
});

describe('TURN server: quotas', () => {
  it('486 past the allocations of one username; others still get theirs', async () => {
    const h = new Harness({ policy: { maxAllocationsPerUser: 2 } });
    assert.equal((await new Client(h, udpPath(1)).allocate()).klass, 'success');
    assert.equal((await new Client(h, udpPath(2)).allocate()).klass, 'success');
    const third = await new Client(h, udpPath(3)).allocate();
    assert.equal(errorCode(third), 486);
    assert.equal((await new Client(h, udpPath(4), 'bob', 'bob-pw').allocate()).klass, 'success');
    assert.equal(h.counters.userQuota, 1);
  });

  it('508 past the allocations in all, changeable at run time', async () => {
    const h = new Harness({ policy: { maxAllocations: 1 } });
    assert.equal((await new Client(h, udpPath(1)).allocate()).klass, 'success');
    assert.equal(errorCode(await new Client(h, udpPath(2), 'bob', 'bob-pw').allocate()), 508);
    h.server.configure({ maxAllocations: 2 });
    assert.equal((await new Client(h, udpPath(3), 'bob', 'bob-pw').allocate()).klass, 'success');
    assert.equal(h.counters.capacity, 1);
  });

  it('drops what is over the shared bandwidth cap (token bucket), both directions, and refills with time', async () => {
    const h = new Harness({ policy: { bandwidthBitsPerSecond: 80_000 } }); // 10 kB/s, a 10 kB burst
    const alice = new Client(h, udpPath(1));
    const bob = new Client(h, udpPath(2), 'bob', 'bob-pw');
    for (const c of [alice, bob]) {
      await c.allocate();
      await c.permit(PEER);
    }
    const kilobyte = Buffer.alloc(1000, 1);
    for (let i = 0; i < 6; i++) await alice.sendIndication(PEER, kilobyte);
    let down = 0;
    for (let i = 0; i < 6; i++) down += h.fromPeer(bob, kilobyte).length;
    assert.equal(h.toPeer.length + down, 10);
    assert.equal(h.counters.overBandwidth, 2);
    h.clock.advance(500);
    for (let i = 0; i < 6; i++) down += h.fromPeer(bob, kilobyte).length;
    assert.equal(h.toPeer.length + down, 15);
    h.server.configure({ bandwidthBitsPerSecond: 0 });
    for (let i = 0; i < 20; i++) await alice.sendIndication(PEER, kilobyte);
    assert.equal(h.counters.overBandwidth, 3, 'no cap once it is lifted');
  });

  it('stops relaying at the daily volume and refuses new allocations (508) until the next UTC day', async () => {
    const h = new Harness({ policy: { dailyVolumeBytes: 5000 } });
    h.clock.now = Date.UTC(2026, 0, 1, 23, 56);
    const alice = new Client(h, udpPath(1));
    await alice.allocate();
    await alice.permit(PEER);
    const kilobyte = Buffer.alloc(1000, 2);
    for (let i = 0; i < 3; i++) await alice.sendIndication(PEER, kilobyte);
    assert.equal(h.fromPeer(alice, kilobyte).length, 1);
    assert.equal(h.fromPeer(alice, kilobyte).length, 1);
    assert.equal(h.fromPeer(alice, Buffer.from('z')).length, 0);
    await alice.sendIndication(PEER, Buffer.from('z'));
    assert.equal(h.counters.overVolume, 2);
    assert.equal(h.server.stats().volumeReached, true);
    assert.equal(errorCode(await new Client(h, udpPath(2), 'bob', 'bob-pw').allocate()), 508);

    h.clock.advance(4 * 60_000); // midnight UTC
    await alice.permit(PEER);
    assert.equal(h.fromPeer(alice, kilobyte).length, 1);
    const stats = h.server.stats();
    assert.deepEqual(stats.bytesToday, { up: 0, down: 1000 });
    assert.deepEqual(stats.bytesTotal, { up: 3000, down: 3000 });
    h.server.configure({ dailyVolumeBytes: 0 });
    assert.equal(h.server.stats().policy.dailyVolumeBytes, 0);
  });
});

describe('TURN server: malformed input', () => {
  it('counts junk, truncated and mis-fingerprinted messages, and ChannelData shorter than it says', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    await alice.bind(0x4000, PEER);
    const good = serializeStun({ method: REFRESH, klass: 'request', transactionId: randomBytes(12), attributes: [] }, { fingerprint: true });
    const badFingerprint = Buffer.from(good);
    badFingerprint[badFingerprint.length - 1] ^= 1;
    const junk = [
      Buffer.alloc(0),
      Buffer.from([0x00]),
      Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\n'),
      good.subarray(0, good.length - 2),
      badFingerprint,
      Buffer.from([0x40, 0x00, 0x00, 0x10, 1, 2, 3]),
      Buffer.from([0x40, 0x00]),
      Buffer.from([0x80, 0x00, 0x00, 0x00]),
    ];
    for (const bytes of junk) assert.deepEqual(await alice.deliver(bytes), []);
    assert.equal(h.counters.malformed, junk.length);
    assert.equal(h.toPeer.length, 0);
  });

  it('never throws, whatever the bytes, from clients or from peers', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.allocate();
    await alice.permit(PEER);
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytes(i % 64);
      // Valid-looking starts half of the time, so the parsers get past their first check.
      if (i % 2 && bytes.length >= 8) {
        bytes[0] = i % 4 ? 0x00 : 0x40;
        bytes.writeUInt32BE(0x2112a442, 4);
      }
      h.server.receive(bytes, alice.path);
      h.server.relayReceived(alice.allocationId, bytes, PEER);
      h.server.relayReceived('no-such-allocation', bytes, PEER);
    }
    await flush();
    assert.ok(h.counters.malformed > 0);
    assert.ok(h.counters.noAllocation >= 3000);
  });

  it('counts responses and unknown indications sent to it', async () => {
    const h = new Harness();
    const alice = new Client(h);
    await alice.deliver(serializeStun({ method: BINDING, klass: 'success', transactionId: randomBytes(12), attributes: [] }));
    await alice.deliver(serializeStun({ method: DATA, klass: 'indication', transactionId: randomBytes(12), attributes: [] }));
    assert.equal(h.counters.unexpectedMessage, 2);
  });
});

describe('relay credentials (TURN REST API form)', () => {
  it('issues <expiry>:<identity> with base64 HMAC-SHA1 of it as the password', () => {
    const credential = issueRelayCredential('s3cret', 'node-abc', 600, 1_700_000_000_123);
    assert.equal(credential.username, '1700000600:node-abc');
    assert.equal(credential.expiresAt, 1_700_000_600);
    // The same derivation coturn's use-auth-secret and turnutils_uclient -W make.
    assert.equal(credential.password, Buffer.from(credential.password, 'base64').toString('base64'));
    assert.equal(Buffer.from(credential.password, 'base64').length, 20);
    assert.equal(passwordFor('s3cret', credential.username, 1_700_000_599_999), credential.password);
    assert.deepEqual(parseRelayUsername(credential.username), { expiresAt: 1_700_000_600, identity: 'node-abc' });
  });

  it('refuses expired, malformed and wrongly keyed usernames', () => {
    const credential = issueRelayCredential('s3cret', 'id:with:colons', 60, 0);
    assert.equal(passwordFor('s3cret', credential.username, 59_999), credential.password);
    assert.equal(passwordFor('s3cret', credential.username, 60_000), undefined, 'expired');
    assert.notEqual(passwordFor('other', credential.username, 0), credential.password);
    for (const bad of ['', 'alice', ':alice', '123:', 'abc:alice', '-5:alice', `1${'0'.repeat(20)}:x`]) assert.equal(passwordFor('s3cret', bad, 0), undefined, bad);
    assert.throws(() => issueRelayCredential('s3cret', '', 60, 0), RangeError);
    assert.throws(() => issueRelayCredential('s3cret', 'x', 0, 0), RangeError);
  });
});
