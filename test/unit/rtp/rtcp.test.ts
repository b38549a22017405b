// RTCP (RFC 3550 6): reports carry loss, jitter and the round-trip fields unchanged, including
// a negative cumulative loss; compounds are split by their length fields and refused when
// those lie; NTP time converts both ways.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  msToNtp,
  ntpMiddle32,
  ntpToMs,
  parseRtcpCompound,
  roundTripMs,
  SDES_CNAME,
  SDES_NAME,
  SDES_TOOL,
  serializeBye,
  serializeReceiverReport,
  serializeRtcpCompound,
  serializeSdes,
  serializeSenderReport,
  type ReportBlock,
  type RtcpPacket,
} from '../../../native/wire/rtp/rtcp.js';
import { parseRtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { capturedPackets } from './fixtures.js';

const block: ReportBlock = {
  ssrc: 0xcafebabe,
  fractionLost: 64,
  cumulativeLost: 1234,
  highestSequence: 65536 * 2 + 17,
  jitter: 80,
  lastSenderReport: 0xb7052000,
  delaySinceLastSenderReport: 0x00054000,
};

function parts(datagram: Buffer): RtcpPacket[] {
  const outcome = parseRtcpCompound(datagram);
  assert.ok(outcome.ok, `expected RTCP, got ${outcome.ok ? '' : outcome.reason}`);
  return outcome.packets;
}

function refusal(datagram: Buffer): string | undefined {
  const outcome = parseRtcpCompound(datagram);
  return outcome.ok ? undefined : outcome.reason;
}

const sdes = serializeSdes([{ ssrc: 1, items: [{ type: SDES_CNAME, text: 'alice@host' }] }]);

describe('RTCP reports', () => {
  it('round-trips-a-sender-report-with-its-blocks', () => {
    const sr = { ssrc: 0x11223344, sender: { ntpSeconds: 3_900_000_000, ntpFraction: 0x80000000, rtpTimestamp: 160_000, packetCount: 1000, octetCount: 160_000 }, reports: [block, { ...block, ssrc: 7 }] };
    const bytes = serializeSenderReport(sr);
    // RFC 3550 6.4.1: 28 octets of header and sender info, 24 per block; length in words minus one.
    assert.equal(bytes.length, 28 + 48);
    assert.equal(bytes.readUInt16BE(2), bytes.length / 4 - 1);
    assert.equal(bytes[0] & 0x1f, 2);
    assert.deepEqual(parts(bytes), [{ type: 'sr', ...sr }]);
  });

  it('round-trips-a-receiver-report', () => {
    const bytes = serializeReceiverReport({ ssrc: 9, reports: [block] });
    assert.equal(bytes[1], 201);
    assert.deepEqual(parts(bytes), [{ type: 'rr', ssrc: 9, reports: [block] }]);
  });

  it('sends-an-empty-receiver-report-when-there-is-nothing-to-report', () => {
    const bytes = serializeReceiverReport({ ssrc: 9, reports: [] });
    assert.deepEqual([...bytes], [0x80, 201, 0, 1, 0, 0, 0, 9]);
  });

  it('carries-a-negative-cumulative-loss-as-24-bit-twos-complement', () => {
    const bytes = serializeReceiverReport({ ssrc: 9, reports: [{ ...block, cumulativeLost: -1 }] });
    assert.deepEqual([...bytes.subarray(8 + 5, 8 + 8)], [0xff, 0xff, 0xff]);
    const rr = parts(bytes)[0];
    assert.equal(rr.type === 'rr' && rr.reports[0].cumulativeLost, -1);
    const most = parts(serializeReceiverReport({ ssrc: 9, reports: [{ ...block, cumulativeLost: -0x800000 }] }))[0];
    assert.equal(most.type === 'rr' && most.reports[0].cumulativeLost, -0x800000);
  });

  it('clamps-a-cumulative-loss-beyond-24-bits-instead-of-wrapping', () => {
    const rr = parts(serializeReceiverReport({ ssrc: 9, reports: [{ ...block, cumulativeLost: 20_000_000 }, { ...block, cumulativeLost: -20_000_000 }] }))[0];
    assert.ok(rr.type === 'rr');
    assert.equal(rr.reports[0].cumulativeLost, 0x7fffff);
    assert.equal(rr.reports[1].cumulativeLost, -0x800000);
  });

  it('reads-every-field-of-a-block-from-its-place-on-the-wire', () => {
    const bytes = serializeReceiverReport({ ssrc: 9, reports: [block] });
    const b = bytes.subarray(8);
    assert.equal(b.readUInt32BE(0), 0xcafebabe);
    assert.equal(b[4], 64);
    assert.equal(b.readIntBE(5, 3), 1234);
    assert.equal(b.readUInt32BE(8), 131089);
    assert.equal(b.readUInt32BE(12), 80);
    assert.equal(b.readUInt32BE(16), 0xb7052000);
    assert.equal(b.readUInt32BE(20), 0x00054000);
  });

  it('keeps-profile-specific-extension-octets-after-the-blocks', () => {
    const rr = parts(serializeReceiverReport({ ssrc: 9, reports: [block], extension: Buffer.from([1, 2, 3, 4]) }))[0];
    assert.deepEqual(rr.type === 'rr' && [...rr.extension!], [1, 2, 3, 4]);
  });
});

describe('RTCP SDES and BYE', () => {
  it('keeps-cname-and-the-other-items-of-each-chunk', () => {
    const chunks = [
      { ssrc: 1, items: [{ type: SDES_CNAME, text: 'alice@127.0.0.1' }, { type: SDES_NAME, text: 'Alice Ünïcode' }, { type: SDES_TOOL, text: 'Peerdial' }] },
      { ssrc: 2, items: [{ type: SDES_CNAME, text: 'b' }] },
    ];
    const bytes = Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), serializeSdes(chunks)]);
    assert.deepEqual(parts(bytes)[1], { type: 'sdes', chunks });
  });

  it('ends-every-chunk-with-a-null-and-pads-it-to-32-bits', () => {
    // A 4-octet CNAME item body fills the chunk to 10 octets; the null and padding make it 12.
    const bytes = serializeSdes([{ ssrc: 1, items: [{ type: SDES_CNAME, text: 'abcd' }] }]);
    assert.equal(bytes.length, 4 + 12);
    assert.deepEqual([...bytes.subarray(14)], [0, 0]);
    // A chunk that ends on a word boundary still needs a whole word of nulls.
    const exact = serializeSdes([{ ssrc: 1, items: [{ type: SDES_CNAME, text: 'abcdef' }] }]);
    assert.equal(exact.length, 4 + 16);
    assert.deepEqual([...exact.subarray(16)], [0, 0, 0, 0]);
  });

  it('round-trips-a-bye-with-and-without-a-reason', () => {
    const rr = serializeReceiverReport({ ssrc: 5, reports: [] });
    assert.deepEqual(parts(Buffer.concat([rr, serializeBye([5, 6], 'call ended')]))[1], { type: 'bye', ssrcs: [5, 6], reason: 'call ended' });
    assert.deepEqual(parts(Buffer.concat([rr, serializeBye([5])]))[1], { type: 'bye', ssrcs: [5] });
  });
});

describe('RTCP compound packets', () => {
  it('builds-sr-then-sdes-cname-then-bye-as-rfc-3550-6-1-requires', () => {
    const sender = { ntpSeconds: 1, ntpFraction: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 };
    const bytes = serializeRtcpCompound({ type: 'sr', ssrc: 77, sender, reports: [block] }, 'alice@peerdial', { reason: 'bye' });
    const packets = parts(bytes);
    assert.deepEqual(packets.map((p) => p.type), ['sr', 'sdes', 'bye']);
    assert.deepEqual(packets[1], { type: 'sdes', chunks: [{ ssrc: 77, items: [{ type: SDES_CNAME, text: 'alice@peerdial' }] }] });
    assert.deepEqual(packets[2], { type: 'bye', ssrcs: [77], reason: 'bye' });
  });

  it('builds-rr-then-sdes-when-we-have-not-sent', () => {
    const packets = parts(serializeRtcpCompound({ type: 'rr', ssrc: 3, reports: [] }, 'c'));
    assert.deepEqual(packets.map((p) => p.type), ['rr', 'sdes']);
  });

  it('keeps-packet-types-it-does-not-decode', () => {
    const app = Buffer.from([0x81, 204, 0, 2, 0, 0, 0, 1, 0x50, 0x44, 0x49, 0x41]);
    const packets = parts(Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), app]));
    assert.deepEqual(packets[1], { type: 'other', packetType: 204, count: 1, body: app.subarray(4) });
  });

  it('strips-padding-from-the-last-packet', () => {
    const bye = serializeBye([1]);
    const padded = Buffer.concat([bye, Buffer.from([0, 0, 0, 4])]);
    padded[0] |= 0x20;
    padded.writeUInt16BE(padded.length / 4 - 1, 2);
    assert.deepEqual(parts(Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), padded]))[1], { type: 'bye', ssrcs: [1] });
  });
});

describe('RTCP rejections', () => {
  const rr = serializeReceiverReport({ ssrc: 1, reports: [block] });

  it('refuses-a-length-field-that-runs-past-the-datagram', () => {
    const bytes = Buffer.concat([rr, sdes]);
    bytes.writeUInt16BE(bytes.readUInt16BE(rr.length + 2) + 1, rr.length + 2);
    assert.match(refusal(bytes)!, /length/);
  });

  it('refuses-octets-left-over-after-the-last-packet', () => {
    assert.match(refusal(Buffer.concat([rr, Buffer.from([0x80, 0xca])]))!, /trailing/);
  });

  it('refuses-a-report-count-its-length-cannot-hold', () => {
    const bytes = Buffer.from(rr);
    bytes[0] = 0x80 | 2;
    assert.match(refusal(bytes)!, /RR shorter/);
    const sr = serializeSenderReport({ ssrc: 1, sender: { ntpSeconds: 0, ntpFraction: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0 }, reports: [] });
    sr[0] = 0x80 | 1;
    assert.match(refusal(sr)!, /SR shorter/);
  });

  it('refuses-a-version-other-than-2-anywhere-in-the-compound', () => {
    const bytes = Buffer.concat([rr, sdes]);
    bytes[rr.length] = 0x40 | 1;
    assert.match(refusal(bytes)!, /version/);
  });

  it('refuses-a-compound-that-does-not-start-with-a-report', () => {
    assert.match(refusal(sdes)!, /SR or RR/);
  });

  it('refuses-padding-on-a-packet-that-is-not-last', () => {
    const bytes = Buffer.concat([rr, sdes]);
    bytes[0] |= 0x20;
    assert.match(refusal(bytes)!, /padding/);
  });

  it('refuses-an-sdes-item-or-chunk-that-runs-out', () => {
    const item = Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), Buffer.from([0x81, 202, 0, 2, 0, 0, 0, 1, SDES_CNAME, 9, 0x61, 0x62])]);
    assert.match(refusal(item)!, /SDES item/);
    const unterminated = Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), Buffer.from([0x81, 202, 0, 2, 0, 0, 0, 1, SDES_CNAME, 2, 0x61, 0x62])]);
    assert.match(refusal(unterminated)!, /end marker/);
  });

  it('refuses-a-bye-reason-longer-than-the-packet', () => {
    const bye = Buffer.from([0x81, 203, 0, 2, 0, 0, 0, 1, 10, 0x61, 0x62, 0x63]);
    assert.match(refusal(Buffer.concat([serializeReceiverReport({ ssrc: 1, reports: [] }), bye]))!, /reason/);
  });

  it('refuses-rtp-media-and-junk', () => {
    assert.match(refusal(capturedPackets('g711a', 1)[0])!, /not RTCP/);
    assert.match(refusal(Buffer.from([0x80]))!, /too short/);
  });

  it('is-itself-refused-by-the-rtp-parser-so-one-port-can-carry-both', () => {
    const compound = serializeRtcpCompound({ type: 'rr', ssrc: 3, reports: [] }, 'c');
    const outcome = parseRtpPacket(compound);
    assert.equal(outcome.ok ? 'rtp' : outcome.reason, 'is-rtcp');
  });
});

describe('NTP timestamps', () => {
  it('maps-the-unix-epoch-to-ntp-second-2208988800', () => {
    assert.deepEqual(msToNtp(0), { seconds: 2_208_988_800, fraction: 0 });
    assert.deepEqual(msToNtp(1500), { seconds: 2_208_988_801, fraction: 0x80000000 });
  });

  it('converts-back-to-milliseconds-within-a-microsecond', () => {
    for (const ms of [0, 1, 1_764_079_000_123.25, 1_000_000_000_999]) assert.ok(Math.abs(ntpToMs(msToNtp(ms)) - ms) < 0.001, String(ms));
  });

  it('takes-the-middle-32-bits-for-lsr', () => {
    assert.equal(ntpMiddle32({ seconds: 0x1234b705, fraction: 0x2000ffff }), 0xb7052000);
  });

  it('computes-round-trip-time-as-the-rfc-3550-6-4-1-example-does', () => {
    // RFC 3550 6.4.1 figure 2: A = 46864.500 s, LSR = 46853.125 s, DLSR = 5.250 s: 6.125 s.
    assert.equal(roundTripMs({ lastSenderReport: 0xb7052000, delaySinceLastSenderReport: 0x00054000 }, 0xb7108000), 6125);
  });

  it('gives-no-round-trip-before-the-peer-has-an-sr-or-when-fields-disagree', () => {
    assert.equal(roundTripMs({ lastSenderReport: 0, delaySinceLastSenderReport: 0 }, 0xb7108000), undefined);
    assert.equal(roundTripMs({ lastSenderReport: 0xb7108000, delaySinceLastSenderReport: 0x00010000 }, 0xb7108000), undefined);
  });
});
