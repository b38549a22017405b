// What a receiver knows about one RTP source, for RTCP report blocks (RFC 3550 6.4.1) and the
// call's quality figures: loss per RFC 3550 A.3, interarrival jitter per A.8, and the LSR/DLSR
// fields a peer needs to measure the round trip. Sans IO: every input carries its own time.
import { msToNtp, ntpMiddle32, roundTripMs, type NtpTimestamp, type ReportBlock } from '../../wire/rtp/rtcp.js';
import { SequenceTracker, type SequenceVerdict } from '../../wire/rtp/rtp-packet.js';

export class ReceptionStatistics {
  private readonly sequence = new SequenceTracker();
  /** RFC 3550 A.1: nothing is counted until the source leaves probation. */
  private valid = false;
  // RFC 3550 A.3: the counts at the previous report, for the fraction lost over one interval.
  private expectedPrior = 0;
  private receivedPrior = 0;
  private lastFractionLost = 0;
  // RFC 3550 A.8 state, in timestamp units.
  private jitter = 0;
  private lastTransit: number | undefined;
  private lastSenderReportMiddle32 = 0;
  private lastSenderReportArrivalMs = 0;

  constructor(private readonly clockRate = 8000) {}

  /**
   * One RTP packet of this source. `timed` is false for packets whose timestamp is not their
   * sampling instant (RFC 4733 events repeat their start time), which would distort the jitter.
   */
  packetReceived(sequenceNumber: number, timestamp: number, arrivalMs: number, timed = true): SequenceVerdict {
    const verdict = this.sequence.update(sequenceNumber);
    if (verdict === 'accepted') this.valid = true;
    if (timed && verdict !== 'bad-jump') this.updateJitter(timestamp, arrivalMs);
    return verdict;
  }

  /** RFC 3550 6.4.1: LSR is the middle of the SR's NTP time, DLSR counts from its arrival. */
  senderReportReceived(ntp: NtpTimestamp, arrivalMs: number): void {
    this.lastSenderReportMiddle32 = ntpMiddle32(ntp);
    this.lastSenderReportArrivalMs = arrivalMs;
  }

  /** The report block about this source at `nowMs`; starts a new loss interval (RFC 3550 A.3). */
  reportBlock(ssrc: number, nowMs: number): ReportBlock {
    const expected = this.valid ? this.sequence.expected : 0;
    const received = this.valid ? this.sequence.receivedCount : 0;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = received;
    const lostInterval = expectedInterval - receivedInterval;
    // RFC 3550 A.3: "if (expected_interval == 0 || lost_interval <= 0) fraction = 0; else fraction = (lost_interval << 8) / expected_interval".
    this.lastFractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    const haveSenderReport = this.lastSenderReportMiddle32 !== 0;
    return {
      ssrc,
      fractionLost: this.lastFractionLost,
      cumulativeLost: this.valid ? this.sequence.cumulativeLost : 0,
      highestSequence: this.valid ? this.sequence.extendedHighest >>> 0 : 0,
      jitter: Math.floor(this.jitter),
      lastSenderReport: this.lastSenderReportMiddle32,
      delaySinceLastSenderReport: haveSenderReport ? Math.max(0, Math.round(((nowMs - this.lastSenderReportArrivalMs) * 65536) / 1000)) : 0,
    };
  }

  /** Packets lost over the whole call as a fraction of those expected (0 when none expected). */
  get lossFraction(): number {
    const expected = this.sequence.expected;
    if (!this.valid || expected <= 0) return 0;
    return Math.max(0, this.sequence.cumulativeLost) / expected;
  }

  /** The fraction lost in the last report interval, as sent in the last report block (0-255). */
  get intervalFractionLost(): number {
    return this.lastFractionLost;
  }

  get cumulativeLost(): number {
    return this.valid ? this.sequence.cumulativeLost : 0;
  }

  get packetsReceived(): number {
    return this.valid ? this.sequence.receivedCount : 0;
  }

  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }

  /** RFC 3550 A.8: J += (|D(i-1,i)| - J) / 16, with D the change in relative transit time. */
  private updateJitter(timestamp: number, arrivalMs: number): void {
    const arrival = (arrivalMs * this.clockRate) / 1000;
    // Transit kept relative to the 32-bit timestamp so a wrap does not read as a huge delay.
    const transit = arrival - (timestamp >>> 0);
    if (this.lastTransit !== undefined) {
      let d = transit - this.lastTransit;
      if (d > 0x80000000) d -= 0x100000000;
      if (d < -0x80000000) d += 0x100000000;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }
}

/**
 * RFC 3550 6.4.1: the round trip seen in a report block about our own stream, which arrived at
 * `arrivalWallMs` (Unix milliseconds). Undefined before the peer has had an SR from us.
 */
export function roundTripFromReport(block: Pick<ReportBlock, 'lastSenderReport' | 'delaySinceLastSenderReport'>, arrivalWallMs: number): number | undefined {
  return roundTripMs(block, ntpMiddle32(msToNtp(arrivalWallMs)));
}

/** What a sender counts for the sender info of its SRs (RFC 3550 6.4.1). */
export class SenderCounters {
  packets = 0;
  octets = 0;

  sent(payloadBytes: number): void {
    this.packets++;
    this.octets += payloadBytes;
  }
}
