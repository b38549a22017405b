// RTP packets (RFC 3550 5.1): what we send parses back the same; every malformed datagram is
// refused with its reason; RTCP on the same port is recognised; sequence numbers wrap.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isNewerSequence,
  looksLikeRtcp,
  parseRtpPacket,
  sequenceDelta,
  SequenceTracker,
  serializeRtpPacket,
  type RtpPacket,
  type RtpPacketFields,
  type RtpRejection,
} from '../../../native/wire/rtp/rtp-packet.js';
import { capturedPackets } from './fixtures.js';

function parsed(datagram: Buffer): RtpPacket {
  const outcome = parseRtpPacket(datagram);
  assert.ok(outcome.ok, `expected RTP, got ${outcome.ok ? '' : outcome.reason}`);
  return outcome.packet;
}

function rejection(datagram: Buffer): RtpRejection | undefined {
  const outcome = parseRtpPacket(datagram);
  return outcome.ok ? undefined : outcome.reason;
}

const audio: RtpPacketFields = { payloadType: 0, sequenceNumber: 4660, timestamp: 0xdeadbeef, ssrc: 0x12345678, payload: Buffer.alloc(160, 0xff) };

describe('RTP packet codec', () => {
  it('writes-the-fixed-header-as-rfc-3550-lays-it-out', () => {
    const bytes = serializeRtpPacket({ ...audio, marker: true });
    assert.equal(bytes.length, 12 + 160);
    assert.deepEqual([...bytes.subarray(0, 12)], [0x80, 0x80, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78]);
  });

  it('round-trips-a-plain-audio-packet', () => {
    const packet = parsed(serializeRtpPacket(audio));
    assert.deepEqual(packet, { marker: false, payloadType: 0, sequenceNumber: 4660, timestamp: 0xdeadbeef, ssrc: 0x12345678, csrcs: [], extension: undefined, payload: audio.payload, paddingLength: 0 });
  });

  it('round-trips-csrcs-an-extension-padding-and-the-marker', () => {
    const fields: RtpPacketFields = {
      marker: true,
      payloadType: 101,
      sequenceNumber: 65535,
      timestamp: 4294967295,
      ssrc: 1,
      csrcs: [0xaaaaaaaa, 0xbbbbbbbb, 3],
      extension: { profile: 0xbede, data: Buffer.from([0x10, 0x7f, 0, 0, 1, 2, 3, 4]) },
      payload: Buffer.from('hello'),
      paddingLength: 3,
    };
    const bytes = serializeRtpPacket(fields);
    assert.equal(bytes.length, 12 + 12 + 4 + 8 + 5 + 3);
    assert.equal(bytes[bytes.length - 1], 3);
    const packet = parsed(bytes);
    assert.equal(packet.marker, true);
    assert.equal(packet.payloadType, 101);
    assert.equal(packet.sequenceNumber, 65535);
    assert.equal(packet.timestamp, 4294967295);
    assert.deepEqual(packet.csrcs, fields.csrcs);
    assert.equal(packet.extension?.profile, 0xbede);
    assert.deepEqual(packet.extension?.data, fields.extension!.data);
    assert.equal(packet.payload.toString(), 'hello');
    assert.equal(packet.paddingLength, 3);
  });

  it('wraps-counters-that-overflow-their-fields-as-the-wire-would', () => {
    const packet = parsed(serializeRtpPacket({ ...audio, sequenceNumber: 65536 + 7, timestamp: 2 ** 32 + 160 }));
    assert.equal(packet.sequenceNumber, 7);
    assert.equal(packet.timestamp, 160);
  });

  it('zero-fills-an-extension-body-to-whole-words', () => {
    const packet = parsed(serializeRtpPacket({ ...audio, extension: { profile: 1, data: Buffer.from([9, 9, 9, 9, 9]) } }));
    assert.deepEqual([...packet.extension!.data], [9, 9, 9, 9, 9, 0, 0, 0]);
    assert.equal(packet.payload.length, 160);
  });

  it('parses-an-empty-payload', () => {
    assert.equal(parsed(serializeRtpPacket({ ...audio, payload: Buffer.alloc(0) })).payload.length, 0);
  });
});

describe('RTP packet rejections', () => {
  const good = serializeRtpPacket(audio);

  it('refuses-fewer-than-twelve-octets', () => {
    assert.equal(rejection(good.subarray(0, 11)), 'too-short');
    assert.equal(rejection(Buffer.alloc(0)), 'too-short');
  });

  it('refuses-any-version-but-2', () => {
    for (const version of [0, 1, 3]) {
      const bytes = Buffer.from(good);
      bytes[0] = (version << 6) | (bytes[0] & 0x3f);
      assert.equal(rejection(bytes), 'bad-version', `version ${version}`);
    }
  });

  it('refuses-a-csrc-count-the-datagram-cannot-hold', () => {
    const bytes = serializeRtpPacket({ ...audio, csrcs: [1, 2], payload: Buffer.alloc(0) });
    assert.equal(rejection(bytes.subarray(0, 12 + 7)), 'truncated-csrc');
    assert.ok(parseRtpPacket(bytes).ok);
  });

  it('refuses-an-extension-header-or-body-cut-short', () => {
    const bytes = serializeRtpPacket({ ...audio, extension: { profile: 1, data: Buffer.alloc(8) }, payload: Buffer.alloc(0) });
    assert.equal(rejection(bytes.subarray(0, 14)), 'truncated-extension');
    assert.equal(rejection(bytes.subarray(0, 12 + 4 + 7)), 'truncated-extension');
    assert.ok(parseRtpPacket(bytes).ok);
  });

  it('refuses-a-padding-count-larger-than-the-payload', () => {
    const bytes = serializeRtpPacket({ ...audio, payload: Buffer.alloc(4) });
    bytes[0] |= 0x20;
    bytes[bytes.length - 1] = 5;
    assert.equal(rejection(bytes), 'bad-padding');
    bytes[bytes.length - 1] = 4;
    assert.equal(parsed(bytes).payload.length, 0);
  });

  it('refuses-a-padding-count-of-zero', () => {
    const bytes = serializeRtpPacket(audio);
    bytes[0] |= 0x20;
    bytes[bytes.length - 1] = 0;
    assert.equal(rejection(bytes), 'bad-padding');
  });

  it('refuses-padding-that-would-eat-into-the-extension', () => {
    const bytes = serializeRtpPacket({ ...audio, extension: { profile: 1, data: Buffer.alloc(4) }, payload: Buffer.alloc(2) });
    bytes[0] |= 0x20;
    bytes[bytes.length - 1] = 3;
    assert.equal(rejection(bytes), 'bad-padding');
  });

  it('hands-rtcp-sr-rr-sdes-bye-and-app-back-for-demultiplexing', () => {
    // RFC 5761 4: packet types 200-204 read as marker + payload type 72-76.
    for (const type of [200, 201, 202, 203, 204]) {
      const bytes = Buffer.from(good);
      bytes[1] = type;
      assert.equal(rejection(bytes), 'is-rtcp', `type ${type}`);
      assert.equal(looksLikeRtcp(bytes), true);
    }
    // Payload type 72 without the marker is not RTCP's range, and 77 with it is not either.
    const pt72 = Buffer.from(good);
    pt72[1] = 72;
    assert.ok(parseRtpPacket(pt72).ok);
    const pt77 = Buffer.from(good);
    pt77[1] = 0x80 | 77;
    assert.ok(parseRtpPacket(pt77).ok);
    assert.equal(looksLikeRtcp(good), false);
  });
});

describe('RTP captured by sipp (g711a.pcap)', () => {
  const packets = capturedPackets('g711a', 4).map(parsed);

  it('reads-version-2-pcma-packets-from-one-source', () => {
    for (const packet of packets) {
      assert.equal(packet.payloadType, 8);
      assert.equal(packet.ssrc, packets[0].ssrc);
      assert.deepEqual(packet.csrcs, []);
      assert.equal(packet.extension, undefined);
    }
    // The marker flags the start of the talkspurt only (RFC 3551 4.1).
    assert.deepEqual(packets.map((p) => p.marker), [true, false, false, false]);
  });

  it('sees-consecutive-sequence-numbers-crossing-a-byte-boundary', () => {
    assert.deepEqual(packets.map((p) => p.sequenceNumber), [0xe6fd, 0xe6fe, 0xe6ff, 0xe700]);
  });

  it('sees-timestamps-advance-by-the-samples-in-each-payload', () => {
    // This capture uses 30 ms packets: 240 samples of 8 kHz A-law, one octet each.
    for (const packet of packets) assert.equal(packet.payload.length, 240);
    for (let i = 1; i < packets.length; i++) assert.equal(packets[i].timestamp - packets[i - 1].timestamp, 240);
    assert.equal(packets[0].timestamp, 240);
  });

  it('writes-each-captured-packet-back-byte-for-byte', () => {
    const raw = capturedPackets('g711a', 4);
    packets.forEach((packet, i) => assert.deepEqual(serializeRtpPacket(packet), raw[i]));
  });
});

describe('sequence numbers across the 16-bit wrap', () => {
  it('orders-numbers-on-the-circle', () => {
    assert.equal(isNewerSequence(1, 0), true);
    assert.equal(isNewerSequence(0, 65535), true);
    assert.equal(isNewerSequence(65535, 0), false);
    assert.equal(isNewerSequence(5, 5), false);
    assert.equal(isNewerSequence(100, 65500), true);
    assert.equal(isNewerSequence(32767, 0), true);
    assert.equal(isNewerSequence(32768, 0), false);
    assert.equal(sequenceDelta(2, 65534), 4);
    assert.equal(sequenceDelta(65534, 2), -4);
  });

  it('extends-the-highest-number-with-a-cycle-count-when-it-wraps', () => {
    const tracker = new SequenceTracker();
    const verdicts = [65533, 65534, 65535, 0, 1].map((seq) => tracker.update(seq));
    assert.deepEqual(verdicts, ['probation', 'accepted', 'accepted', 'accepted', 'accepted']);
    assert.equal(tracker.extendedHighest, 65536 + 1);
    assert.equal(tracker.expected, 4);
    assert.equal(tracker.cumulativeLost, 0);
  });

  it('keeps-a-new-source-on-probation-until-two-packets-arrive-in-order', () => {
    const tracker = new SequenceTracker();
    assert.equal(tracker.update(10), 'probation');
    assert.equal(tracker.update(50), 'probation');
    assert.equal(tracker.update(51), 'accepted');
    assert.equal(tracker.extendedHighest, 51);
  });

  it('counts-gaps-as-loss-and-duplicates-against-it', () => {
    const tracker = new SequenceTracker();
    for (const seq of [100, 101, 103, 106]) tracker.update(seq);
    assert.equal(tracker.expected, 6);
    assert.equal(tracker.cumulativeLost, 3);
    assert.equal(tracker.update(104), 'duplicate-or-late');
    assert.equal(tracker.update(104), 'duplicate-or-late');
    assert.equal(tracker.update(104), 'duplicate-or-late');
    assert.equal(tracker.update(104), 'duplicate-or-late');
    assert.equal(tracker.cumulativeLost, -1);
    assert.equal(tracker.extendedHighest, 106);
  });

  it('treats-a-big-jump-as-a-restart-only-when-the-next-packet-follows-it', () => {
    const tracker = new SequenceTracker();
    for (const seq of [1, 2, 3]) tracker.update(seq);
    assert.equal(tracker.update(40000), 'bad-jump');
    assert.equal(tracker.extendedHighest, 3);
    assert.equal(tracker.update(4), 'accepted');
    assert.equal(tracker.update(20000), 'bad-jump');
    assert.equal(tracker.update(20001), 'accepted');
    assert.equal(tracker.extendedHighest, 20001);
    assert.equal(tracker.expected, 1);
  });
});
