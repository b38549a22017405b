// Receiver statistics against values worked out by hand from RFC 3550 A.3 (loss), A.8
// (jitter) and 6.4.1 (LSR/DLSR and the round trip).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceptionStatistics, roundTripFromReport } from '../../../native/proto/media/rtp-statistics.js';
import { msToNtp, ntpMiddle32 } from '../../../native/wire/rtp/rtcp.js';

function feed(stats: ReceptionStatistics, seqs: number[]): void {
  for (const seq of seqs) stats.packetReceived(seq, seq * 160, seq * 20);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('reception statistics', () => {
  it('reports-fraction-and-cumulative-loss-per-interval-as-rfc3550-a3-computes-them', () => {
    const stats = new ReceptionStatistics();
    // 1000 is the probation packet (A.1), so counting starts at 1001: 19 expected, 16 received.
    feed(stats, range(1000, 1019).filter((s) => ![1005, 1010, 1011].includes(s)));
    const first = stats.reportBlock(0x1234, 0);
    assert.equal(first.ssrc, 0x1234);
    assert.equal(first.cumulativeLost, 3);
    assert.equal(first.fractionLost, Math.floor((3 * 256) / 19)); // 40
    assert.equal(first.highestSequence, 1019);
    // Next interval: 20 expected, 19 received.
    feed(stats, range(1020, 1039).filter((s) => s !== 1030));
    const second = stats.reportBlock(0x1234, 0);
    assert.equal(second.fractionLost, 12); // floor(256 / 20)
    assert.equal(second.cumulativeLost, 4);
    assert.ok(Math.abs(stats.lossFraction - 4 / 39) < 1e-9);
  });

  it('reports-no-fraction-lost-when-duplicates-outnumber-losses', () => {
    const stats = new ReceptionStatistics();
    feed(stats, [1, 2, 3, 3, 3, 4]);
    const block = stats.reportBlock(1, 0);
    assert.equal(block.fractionLost, 0);
    assert.equal(block.cumulativeLost, -2);
    assert.equal(stats.lossFraction, 0);
  });

  it('extends-the-highest-sequence-across-a-wrap', () => {
    const stats = new ReceptionStatistics();
    feed(stats, [65534, 65535, 0, 1]);
    assert.equal(stats.reportBlock(1, 0).highestSequence, 65536 + 1);
    assert.equal(stats.cumulativeLost, 0);
  });

  it('estimates-interarrival-jitter-as-rfc3550-a8-does', () => {
    const stats = new ReceptionStatistics();
    // Sent every 20 ms (160 units); the third packet arrives 5 ms late (40 units of transit).
    const arrivals = [0, 20, 45, 60];
    arrivals.forEach((at, i) => stats.packetReceived(i, i * 160, at));
    // D = 0, 40, -40: J = 40/16 = 2.5, then 2.5 + (40 - 2.5)/16 = 4.84375 units.
    assert.ok(Math.abs(stats.jitterMs - 4.84375 / 8) < 1e-9);
    assert.equal(stats.reportBlock(1, 0).jitter, 4);
  });

  it('leaves-jitter-alone-for-packets-without-a-sampling-timestamp', () => {
    const stats = new ReceptionStatistics();
    stats.packetReceived(0, 0, 0);
    stats.packetReceived(1, 160, 20);
    // RFC 4733 events repeat their start timestamp: counted, but not timed.
    stats.packetReceived(2, 160, 40, false);
    stats.packetReceived(3, 160, 60, false);
    assert.equal(stats.jitterMs, 0);
    assert.equal(stats.packetsReceived, 3);
  });

  it('fills-lsr-and-dlsr-from-the-last-sender-report', () => {
    const stats = new ReceptionStatistics();
    feed(stats, [1, 2]);
    assert.equal(stats.reportBlock(1, 0).lastSenderReport, 0);
    const ntp = msToNtp(Date.UTC(2026, 0, 1, 12, 0, 0, 250));
    stats.senderReportReceived(ntp, 1000);
    const block = stats.reportBlock(1, 1500);
    assert.equal(block.lastSenderReport, ntpMiddle32(ntp));
    assert.equal(block.delaySinceLastSenderReport, 32768); // 0.5 s in 1/65536 s
  });

  it('computes-the-round-trip-from-a-report-about-us', () => {
    const sentAt = Date.UTC(2026, 0, 1, 12, 0, 0, 0);
    const block = { lastSenderReport: ntpMiddle32(msToNtp(sentAt)), delaySinceLastSenderReport: 16384 }; // peer held it 250 ms
    const rtt = roundTripFromReport(block, sentAt + 300);
    assert.ok(rtt !== undefined && Math.abs(rtt - 50) < 0.1, `rtt ${rtt}`);
    assert.equal(roundTripFromReport({ lastSenderReport: 0, delaySinceLastSenderReport: 0 }, sentAt), undefined);
  });
});
