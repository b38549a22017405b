// The TURN client (RFC 8656) against a server scripted in each test from the wire codec, on a
// fake clock: long-term credentials, refresh timing, permissions and channels, data both ways,
// failures, and what it does with bytes it cannot use. Then the TCP stream splitter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TurnClient, type AllocateOutcome, type TurnClientOptions } from '../../../native/proto/nat/turn-client.js';
import { TurnStreamReader } from '../../../native/proto/nat/turn-stream.js';
import { longTermKey, verifyIntegrity } from '../../../native/wire/stun/integrity.js';
import {
  ALLOCATE,
  ATTR,
  CHANNEL_BIND,
  CREATE_PERMISSION,
  DATA,
  REFRESH,
  SEND,
  attribute,
  encodeAddress,
  encodeErrorCode,
  encodeXorAddress,
  decodeXorAddress,
  parseStun,
  serializeStun,
  type StunAttribute,
  type StunMessage,
  type TransportAddress,
} from '../../../native/wire/stun/message.js';
import { decodeChannelNumber, decodeRequestedTransport, decodeUint32, encodeChannelData, encodeUint32, parseChannelData } from '../../../native/wire/stun/turn.js';
import { FakeClock } from '../../support/fake-clock.js';
import { seededRandom } from '../../support/random.js';

const SERVER = { address: '192.0.2.1', port: 3478 };
const RELAYED = { address: '192.0.2.1', port: 49152 };
const MAPPED = { address: '203.0.113.5', port: 40000 };
const PEER = { address: '198.51.100.20', port: 5004 };
const OTHER_PEER = { address: '198.51.100.99', port: 6000 };
const USER = 'alice';
const PASSWORD = 'secret';
const REALM = 'peerdial.test';
const KEY = longTermKey(USER, REALM, PASSWORD);

type Sent = StunMessage & { bytes: Buffer };

/** Lets the client's awaits run (a retry after 401/438, permit's second step). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const errorCode = (code: number, reason = ''): StunAttribute => ({ type: ATTR.ERROR_CODE, value: encodeErrorCode(code, reason) });
const text = (type: number, value: string): StunAttribute => ({ type, value: Buffer.from(value) });
const challenge = (nonce = 'nonce-1'): StunAttribute[] => [errorCode(401, 'Unauthorized'), text(ATTR.REALM, REALM), text(ATTR.NONCE, nonce)];
const xor = (type: number, a: TransportAddress, transactionId: Buffer): StunAttribute => ({ type, value: encodeXorAddress(a, transactionId) });
const lifetime = (s: number): StunAttribute => ({ type: ATTR.LIFETIME, value: encodeUint32(s) });
const textOf = (m: StunMessage, type: number) => attribute(m, type)?.toString('utf8');

function harness(extra: Partial<TurnClientOptions> = {}) {
  const clock = new FakeClock();
  const wire: Buffer[] = [];
  const received: { data: string; from: TransportAddress }[] = [];
  const failures: string[] = [];
  const client = new TurnClient({
    server: SERVER,
    transport: 'udp',
    username: USER,
    password: PASSWORD,
    timers: clock,
    now: () => clock.now,
    send: (bytes) => wire.push(bytes),
    onData: (data, from) => received.push({ data: data.toString(), from }),
    onFailed: (reason) => failures.push(reason),
    ...extra,
  });
  /** The next STUN message the client sent. */
  const next = (method?: number): Sent => {
    const bytes = wire.shift();
    assert.ok(bytes, 'the client sent a message');
    const parsed = parseStun(bytes);
    assert.ok(parsed.ok, `the client sent STUN: ${bytes.toString('hex')}`);
    if (method !== undefined) assert.equal(parsed.message.method, method);
    return { ...parsed.message, bytes };
  };
  /** The scripted server's answer to `request`, signed when given a key. */
  const answer = (request: StunMessage, klass: 'success' | 'error', attributes: StunAttribute[], key?: Buffer): boolean =>
    client.receive(serializeStun({ method: request.method, klass, transactionId: request.transactionId, attributes }, { integrityKey: key, fingerprint: true }));
  const allocationAnswer = (request: StunMessage, lifetimeS: number) => [
    xor(ATTR.XOR_RELAYED_ADDRESS, RELAYED, request.transactionId),
    xor(ATTR.XOR_MAPPED_ADDRESS, MAPPED, request.transactionId),
    lifetime(lifetimeS),
  ];
  /** The whole allocation: a challenge, then the signed success. */
  const allocated = async (lifetimeS = 600) => {
    const outcome = client.allocate();
    answer(next(ALLOCATE), 'error', challenge());
    await flush();
    const signed = next(ALLOCATE);
    assert.equal(answer(signed, 'success', allocationAnswer(signed, lifetimeS), KEY), true);
    const result = await outcome;
    assert.ok(result.ok, JSON.stringify(result));
    return result;
  };
  /** CreatePermission and ChannelBind, both answered. */
  const permitted = async (peer = PEER) => {
    const done = client.permit(peer);
    const permission = next(CREATE_PERMISSION);
    answer(permission, 'success', [], KEY);
    await flush();
    const bind = next(CHANNEL_BIND);
    answer(bind, 'success', [], KEY);
    assert.equal(await done, true);
    return { permission, bind };
  };
  return { clock, wire, received, failures, client, next, answer, allocationAnswer, allocated, permitted };
}

describe('TURN client', () => {
  it('answers the 401 challenge with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY and reports the allocation', async () => {
    const h = harness();
    const outcome = h.client.allocate();
    const first = h.next(ALLOCATE);
    assert.equal(decodeRequestedTransport(attribute(first, ATTR.REQUESTED_TRANSPORT)), 17);
    assert.equal(attribute(first, ATTR.USERNAME), undefined);
    assert.equal(verifyIntegrity(first.bytes, KEY), 'missing');
    h.answer(first, 'error', challenge());
    await flush();
    const signed = h.next(ALLOCATE);
    assert.notDeepEqual(signed.transactionId, first.transactionId);
    assert.equal(textOf(signed, ATTR.USERNAME), USER);
    assert.equal(textOf(signed, ATTR.REALM), REALM);
    assert.equal(textOf(signed, ATTR.NONCE), 'nonce-1');
    assert.equal(verifyIntegrity(signed.bytes, KEY), 'ok');
    assert.ok(attribute(signed, ATTR.FINGERPRINT));
    h.clock.advance(25);
    h.answer(signed, 'success', h.allocationAnswer(signed, 600), KEY);
    assert.deepEqual(await outcome, { ok: true, relayed: RELAYED, mapped: MAPPED, lifetimeS: 600, rttMs: 25 });
    assert.deepEqual(h.client.relayed, RELAYED);
    assert.equal(h.client.state, 'allocated');
    assert.equal(h.client.counters.challenges, 1);
  });

  it('fails with 401 when the server refuses the credentials it asked for', async () => {
    const h = harness({ password: 'wrong' });
    const outcome = h.client.allocate();
    h.answer(h.next(ALLOCATE), 'error', challenge());
    await flush();
    h.answer(h.next(ALLOCATE), 'error', challenge('nonce-2'));
    const result = await outcome;
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, 401);
    assert.match(!result.ok ? result.reason : '', /username or password/);
    assert.equal(h.wire.length, 0, 'no third try');
    assert.equal(h.client.state, 'failed');
    assert.equal(h.clock.pending, 0);
  });

  it('retries with the new nonce after 438 Stale Nonce, and later requests carry it', async () => {
    const h = harness();
    await h.allocated();
    const done = h.client.permit(PEER);
    const stale = h.next(CREATE_PERMISSION);
    assert.equal(textOf(stale, ATTR.NONCE), 'nonce-1');
    // coturn's 438 is unsigned: the old nonce no longer authenticates anything.
    h.answer(stale, 'error', [errorCode(438, 'Stale Nonce'), text(ATTR.REALM, REALM), text(ATTR.NONCE, 'nonce-2')]);
    await flush();
    const retry = h.next(CREATE_PERMISSION);
    assert.notDeepEqual(retry.transactionId, stale.transactionId);
    assert.equal(textOf(retry, ATTR.NONCE), 'nonce-2');
    assert.equal(verifyIntegrity(retry.bytes, KEY), 'ok');
    h.answer(retry, 'success', [], KEY);
    await flush();
    const bind = h.next(CHANNEL_BIND);
    assert.equal(textOf(bind, ATTR.NONCE), 'nonce-2');
    h.answer(bind, 'success', [], KEY);
    assert.equal(await done, true);
    assert.equal(h.client.counters.staleNonces, 1);
  });

  it('drops answers whose MESSAGE-INTEGRITY is forged or missing, and keeps waiting for the real one', async () => {
    const h = harness();
    const outcome = h.client.allocate();
    h.answer(h.next(ALLOCATE), 'error', challenge());
    await flush();
    const signed = h.next(ALLOCATE);
    const wrongKey = longTermKey(USER, REALM, 'guessed');
    assert.equal(h.answer(signed, 'success', h.allocationAnswer(signed, 600), wrongKey), false, 'signed with another key');
    assert.equal(h.answer(signed, 'success', h.allocationAnswer(signed, 600)), false, 'a success without MESSAGE-INTEGRITY');
    assert.equal(h.answer(signed, 'error', [errorCode(508, 'Insufficient Capacity')], wrongKey), false, 'a forged error');
    assert.equal(h.client.counters.forged, 3);
    assert.equal(h.answer({ ...signed, transactionId: Buffer.alloc(12, 7) }, 'success', [], KEY), false, 'an answer to nothing we asked');
    assert.equal(h.client.counters.unmatched, 1);
    assert.equal(h.client.state, 'allocating');
    assert.equal(h.answer(signed, 'success', h.allocationAnswer(signed, 600), KEY), true);
    assert.equal((await outcome).ok, true);
  });

  it('refreshes the allocation a minute before its lifetime ends, and at half a short lifetime', async () => {
    const h = harness();
    await h.allocated(600);
    h.clock.advance(539_999);
    assert.equal(h.wire.length, 0);
    h.clock.advance(1);
    const refresh = h.next(REFRESH);
    assert.equal(verifyIntegrity(refresh.bytes, KEY), 'ok');
    h.answer(refresh, 'success', [lifetime(300)], KEY);
    await flush();
    h.clock.advance(239_999);
    assert.equal(h.wire.length, 0, 'a granted 300 s: the next refresh at 240 s');
    h.clock.advance(1);
    h.next(REFRESH);
    assert.equal(h.client.counters.refreshes, 1);

    const short = harness();
    await short.allocated(60);
    short.clock.advance(29_999);
    assert.equal(short.wire.length, 0);
    short.clock.advance(1);
    short.next(REFRESH);
  });

  it('reports the allocation lost when a refresh is refused with 437 or never answered', async () => {
    const refused = harness();
    await refused.allocated(600);
    refused.clock.advance(540_000);
    refused.answer(refused.next(REFRESH), 'error', [errorCode(437, 'Allocation Mismatch')], KEY);
    await flush();
    assert.equal(refused.failures.length, 1);
    assert.match(refused.failures[0], /no allocation/);
    assert.equal(refused.client.state, 'failed');
    assert.equal(refused.client.relayed, undefined);
    assert.equal(refused.clock.pending, 0);

    const silent = harness();
    await silent.allocated(600);
    silent.clock.advance(540_000 + 39_499);
    assert.equal(silent.failures.length, 0);
    assert.equal(silent.wire.length, 7, 'seven sends (RFC 8489 Rc)');
    silent.clock.advance(1);
    await flush();
    assert.equal(silent.failures.length, 1);
    assert.match(silent.failures[0], /stopped answering|no answer/);
  });

  it('retransmits over UDP after RTO, 2 RTO, 4 RTO... and gives up 16 RTO after the seventh send', async () => {
    const h = harness();
    const sentAt: number[] = [];
    let outcome: unknown;
    void h.client.allocate().then((o) => (outcome = o));
    while (h.clock.now < 40_000) {
      while (h.wire.shift()) sentAt.push(h.clock.now);
      h.clock.advance(100);
      await flush();
    }
    assert.deepEqual(sentAt, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert.deepEqual(outcome, { ok: false, reason: 'no answer from the TURN server' });
    assert.equal(h.client.counters.retransmissions, 6);
  });

  it('sends once over TCP and times out after 39.5 s (RFC 8489 6.2.2)', async () => {
    const h = harness({ transport: 'tcp' });
    const seen: { outcome?: AllocateOutcome } = {};
    void h.client.allocate().then((o) => (seen.outcome = o));
    h.next(ALLOCATE);
    h.clock.advance(39_499);
    await flush();
    assert.equal(seen.outcome, undefined);
    assert.equal(h.wire.length, 0, 'no retransmission over TCP');
    h.clock.advance(1);
    await flush();
    assert.deepEqual(seen.outcome, { ok: false, reason: 'no answer from the TURN server' });
  });

  it('permits a peer with CreatePermission, binds it a channel, and refreshes both until close', async () => {
    const h = harness();
    await h.allocated(3600);
    const { permission, bind } = await h.permitted();
    assert.deepEqual(decodeXorAddress(attribute(permission, ATTR.XOR_PEER_ADDRESS)!, permission.transactionId), PEER);
    assert.equal(decodeChannelNumber(attribute(bind, ATTR.CHANNEL_NUMBER)), 0x4000);
    assert.deepEqual(decodeXorAddress(attribute(bind, ATTR.XOR_PEER_ADDRESS)!, bind.transactionId), PEER);
    const seen: string[] = [];
    const answerAll = async () => {
      await flush();
      while (h.wire.length) {
        const m = h.next();
        seen.push(`${h.clock.now / 1000}s ${m.method === CREATE_PERMISSION ? 'permission' : m.method === CHANNEL_BIND ? `channel ${decodeChannelNumber(attribute(m, ATTR.CHANNEL_NUMBER))!.toString(16)}` : m.method}`);
        h.answer(m, 'success', m.method === REFRESH ? [lifetime(3600)] : [], KEY);
      }
      await flush();
    };
    for (let s = 0; s < 1100; s += 10) {
      h.clock.advance(10_000);
      await answerAll();
    }
    assert.deepEqual(seen, ['240s permission', '480s permission', '540s channel 4000', '720s permission', '960s permission', '1080s channel 4000']);
    assert.equal(h.client.counters.permissionRefreshes, 4);
    assert.equal(h.client.counters.channelRefreshes, 2);
  });

  it('sends as a Send indication before the channel is bound and as ChannelData after', async () => {
    const h = harness();
    await h.allocated();
    h.client.sendTo(PEER, Buffer.from('too early'));
    assert.equal(h.wire.length, 0, 'no permission yet: dropped');
    const done = h.client.permit(PEER);
    h.answer(h.next(CREATE_PERMISSION), 'success', [], KEY);
    await flush();
    const bind = h.next(CHANNEL_BIND);
    h.client.sendTo(PEER, Buffer.from('hello'));
    const indication = h.next(SEND);
    assert.equal(indication.klass, 'indication');
    assert.deepEqual(decodeXorAddress(attribute(indication, ATTR.XOR_PEER_ADDRESS)!, indication.transactionId), PEER);
    assert.equal(textOf(indication, ATTR.DATA), 'hello');
    h.answer(bind, 'success', [], KEY);
    assert.equal(await done, true);
    h.client.sendTo(PEER, Buffer.from('hello again'));
    const channelData = parseChannelData(h.wire.shift()!);
    assert.deepEqual(channelData && { channel: channelData.channel, data: channelData.data.toString() }, { channel: 0x4000, data: 'hello again' });
    h.client.sendTo(OTHER_PEER, Buffer.from('not permitted'));
    assert.equal(h.wire.length, 0);
    assert.deepEqual(
      [h.client.counters.sendIndications, h.client.counters.channelDataSent, h.client.counters.droppedSends],
      [1, 1, 2],
    );
  });

  it('pads ChannelData to four bytes over TCP (RFC 8656 12.5)', async () => {
    const h = harness({ transport: 'tcp' });
    await h.allocated();
    await h.permitted();
    h.client.sendTo(PEER, Buffer.from('abcde'));
    const bytes = h.wire.shift()!;
    assert.equal(bytes.length, 12);
    assert.equal(bytes.readUInt16BE(2), 5);
  });

  it('hands data from Data indications and ChannelData to onData with the peer address', async () => {
    const h = harness();
    await h.allocated();
    await h.permitted();
    const indication = (from: TransportAddress, data: string) => {
      const transactionId = Buffer.alloc(12, 3);
      return serializeStun({ method: DATA, klass: 'indication', transactionId, attributes: [xor(ATTR.XOR_PEER_ADDRESS, from, transactionId), text(ATTR.DATA, data)] });
    };
    const otherPort = { address: PEER.address, port: 7000 };
    assert.equal(h.client.receive(indication(otherPort, 'by indication')), true);
    assert.equal(h.client.receive(encodeChannelData(0x4000, Buffer.from('by channel'))), true);
    assert.equal(h.client.receive(encodeChannelData(0x4000, Buffer.from('padded'), true)), true);
    assert.deepEqual(h.received, [
      { data: 'by indication', from: otherPort },
      { data: 'by channel', from: PEER },
      { data: 'padded', from: PEER },
    ]);
    assert.equal(h.client.receive(indication(OTHER_PEER, 'never permitted')), false);
    assert.equal(h.client.receive(encodeChannelData(0x4001, Buffer.from('unbound channel'))), false);
    assert.equal(h.client.counters.unexpectedData, 2);
    assert.equal(h.received.length, 3);
  });

  it('takes ChannelData that overtakes the ChannelBind answer', async () => {
    const h = harness();
    await h.allocated();
    const done = h.client.permit(PEER);
    h.answer(h.next(CREATE_PERMISSION), 'success', [], KEY);
    await flush();
    const bind = h.next(CHANNEL_BIND);
    assert.equal(h.client.receive(encodeChannelData(0x4000, Buffer.from('early'))), true);
    h.answer(bind, 'success', [], KEY);
    assert.equal(await done, true);
    assert.deepEqual(h.received, [{ data: 'early', from: PEER }]);
  });

  it('reports 508, 486 and 300 with their codes, and the alternate server of a 300', async () => {
    for (const code of [508, 486, 300]) {
      const h = harness();
      const outcome = h.client.allocate();
      h.answer(h.next(ALLOCATE), 'error', challenge());
      await flush();
      const extra = code === 300 ? [{ type: 0x8023, value: encodeAddress({ address: '192.0.2.77', port: 3478 }) }] : [];
      h.answer(h.next(ALLOCATE), 'error', [errorCode(code, 'Go away'), ...extra], KEY);
      const result = await outcome;
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.equal(result.code, code);
      assert.match(result.reason, new RegExp(`${code} Go away`));
      if (code === 300) assert.deepEqual(result.alternate, { address: '192.0.2.77', port: 3478 });
    }
  });

  it('keeps a permission when ChannelBind fails, and data then goes as Send indications', async () => {
    const h = harness();
    await h.allocated();
    const done = h.client.permit(PEER);
    h.answer(h.next(CREATE_PERMISSION), 'success', [], KEY);
    await flush();
    h.answer(h.next(CHANNEL_BIND), 'error', [errorCode(400, 'Bad Request')], KEY);
    assert.equal(await done, true);
    h.client.sendTo(PEER, Buffer.from('x'));
    assert.equal(h.next(SEND).klass, 'indication');
    assert.equal(h.client.counters.channelBindFailures, 1);
  });

  it('close deletes the allocation with a LIFETIME 0 Refresh and stops every timer', async () => {
    const h = harness();
    await h.allocated();
    await h.permitted();
    assert.ok(h.clock.pending >= 3, 'refresh timers for the allocation, the permission and the channel');
    const closed = h.client.close();
    const refresh = h.next(REFRESH);
    assert.equal(decodeUint32(attribute(refresh, ATTR.LIFETIME)), 0);
    assert.equal(verifyIntegrity(refresh.bytes, KEY), 'ok');
    h.answer(refresh, 'success', [lifetime(0)], KEY);
    await closed;
    assert.equal(h.client.state, 'closed');
    assert.equal(h.clock.pending, 0);
    assert.equal(h.client.relayed, undefined);
    h.client.sendTo(PEER, Buffer.from('after close'));
    assert.equal(h.wire.length, 0);
    assert.equal(h.client.receive(encodeChannelData(0x4000, Buffer.from('late'))), false);
    assert.deepEqual(h.failures, [], 'closing is not a failure');
    await h.client.close();
  });

  it('close during allocate ends the allocate with a failure and sends nothing more', async () => {
    const h = harness();
    const outcome = h.client.allocate();
    h.next(ALLOCATE);
    await h.client.close();
    assert.deepEqual(await outcome, { ok: false, reason: 'the TURN client was closed' });
    assert.equal(h.clock.pending, 0);
    assert.equal(h.wire.length, 0);
  });

  it('counts malformed bytes and never throws', async () => {
    const h = harness();
    await h.allocated();
    await h.permitted();
    const before = h.client.counters.malformed;
    const dataWithoutData = serializeStun({ method: DATA, klass: 'indication', transactionId: Buffer.alloc(12, 1), attributes: [xor(ATTR.XOR_PEER_ADDRESS, PEER, Buffer.alloc(12, 1))] });
    const samples = [
      Buffer.alloc(0),
      Buffer.from('INVITE sip:bob@example.com SIP/2.0\r\n'),
      serializeStun({ method: REFRESH, klass: 'success', transactionId: Buffer.alloc(12), attributes: [lifetime(1)] }).subarray(0, 26),
      Buffer.from([0x40, 0x00, 0x00, 0x10, 1, 2]), // ChannelData claiming 16 bytes, carrying 2
      Buffer.from([0x4f, 0xff, 0x00, 0x00]).subarray(0, 3),
      dataWithoutData,
    ];
    for (const bytes of samples) assert.equal(h.client.receive(bytes), false, bytes.toString('hex'));
    assert.equal(h.client.counters.malformed - before, samples.length);
    const random = seededRandom(8656);
    for (let i = 0; i < 5000; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      // Half of them start like STUN or ChannelData, to reach the deeper checks.
      if (i % 2 === 0 && bytes.length >= 8) {
        bytes[0] = i % 4 === 0 ? 0x01 : 0x40;
        bytes.writeUInt32BE(0x2112a442, 4);
      }
      assert.doesNotThrow(() => h.client.receive(bytes));
    }
    assert.equal(h.client.state, 'allocated');
  });
});

describe('TURN stream reader (TCP)', () => {
  const stun = serializeStun({ method: ALLOCATE, klass: 'request', transactionId: Buffer.alloc(12, 9), attributes: [text(ATTR.SOFTWARE, 'x')] }, { fingerprint: true });
  const odd = encodeChannelData(0x4000, Buffer.from('abcde'), true);
  const even = encodeChannelData(0x4fff, Buffer.from('abcdefgh'), true);
  const empty = encodeChannelData(0x4001, Buffer.alloc(0), true);
  const stream = Buffer.concat([stun, odd, even, empty, stun]);

  it('cuts a stream into STUN messages and padded ChannelData however it is chunked', () => {
    const whole = new TurnStreamReader().push(stream);
    assert.deepEqual(whole, [stun, odd, even, empty, stun]);
    assert.equal(parseChannelData(whole[1])?.data.toString(), 'abcde');
    const reader = new TurnStreamReader();
    const byteByByte = [...stream].flatMap((byte) => reader.push(Buffer.from([byte])));
    assert.deepEqual(byteByByte, whole);
    assert.equal(reader.pending, 0);
    const random = seededRandom(5);
    const chunked = new TurnStreamReader();
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; ) {
      const size = 1 + Math.floor(random() * 40);
      out.push(...chunked.push(stream.subarray(at, at + size)));
      at += size;
    }
    assert.deepEqual(out, whole);
  });

  it('stops at bytes that are neither STUN nor ChannelData, and says why', () => {
    const reader = new TurnStreamReader();
    assert.deepEqual(reader.push(Buffer.concat([stun, Buffer.from('SIP/2.0 200 OK\r\n')])), [stun]);
    assert.match(reader.error ?? '', /neither STUN nor ChannelData/);
    assert.deepEqual(reader.push(stun), []);
    const noCookie = new TurnStreamReader();
    assert.deepEqual(noCookie.push(Buffer.from([0, 1, 0, 0, 1, 2, 3, 4])), []);
    assert.match(noCookie.error ?? '', /magic cookie/);
  });
});
