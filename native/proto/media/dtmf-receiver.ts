// RFC 4733 receiver: turns telephone-event packets into key presses, each reported exactly
// once. An event is known by its RTP timestamp (RFC 4733 2.5.1.2: every packet of one event
// carries the event's start time), so retransmitted starts, updates and the three end packets
// (2.5.1.4) of an event already reported are dropped, however they are reordered.
import { dtmfCharForEvent, type TelephoneEvent } from '../../wire/rtp/telephone-event.js';

export interface TelephoneEventPacket {
  ssrc: number;
  timestamp: number;
  marker: boolean;
  event: TelephoneEvent;
}

/** How many recent events are remembered to recognise their late copies. */
const REMEMBERED_EVENTS = 32;

interface CurrentEvent {
  ssrc: number;
  timestamp: number;
  code: number;
  ended: boolean;
}

export class DtmfReceiver {
  private readonly seen: string[] = [];
  private current: CurrentEvent | undefined;

  /** Feed one telephone-event packet; returns the key when it starts an event not yet reported. */
  receive(packet: TelephoneEventPacket): string | undefined {
    const timestamp = packet.timestamp >>> 0;
    const key = `${packet.ssrc >>> 0}:${timestamp}`;
    if (this.seen.includes(key)) {
      if (packet.event.end && this.current && this.current.ssrc === packet.ssrc && this.current.timestamp === timestamp) this.current.ended = true;
      return undefined;
    }
    this.remember(key);
    if (this.continuesCurrentEvent(packet, timestamp)) {
      this.current!.timestamp = timestamp;
      this.current!.ended = packet.event.end;
      return undefined;
    }
    this.current = { ssrc: packet.ssrc, timestamp, code: packet.event.event, ended: packet.event.end };
    // Events beyond the pad (flash, tones of other registries) are not key presses.
    return dtmfCharForEvent(packet.event.event);
  }

  /**
   * RFC 4733 2.5.1.3: an event longer than the 16-bit duration goes on in a new segment with a
   * new timestamp and no marker bit. A new timestamp without the marker, for the same event
   * while it has not ended, is such a segment rather than a new press.
   */
  private continuesCurrentEvent(packet: TelephoneEventPacket, timestamp: number): boolean {
    const current = this.current;
    if (!current || packet.marker || current.ended) return false;
    if (current.ssrc !== packet.ssrc || current.code !== packet.event.event) return false;
    const ahead = (timestamp - current.timestamp) >>> 0;
    return ahead > 0 && ahead <= 0xffff + 0xffff;
  }

  private remember(key: string): void {
    this.seen.push(key);
    if (this.seen.length > REMEMBERED_EVENTS) this.seen.shift();
  }
}
