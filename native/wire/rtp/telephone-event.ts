// RFC 4733 telephone-events: the 4-octet payload that carries DTMF digits in RTP, and the
// mapping between event codes and the keys of a phone pad (RFC 4733 3.2, table 7).

export interface TelephoneEvent {
  /** Event code: 0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D' (other codes are kept as-is). */
  event: number;
  /** E bit: this packet ends the event (RFC 4733 2.5.1.3: sent three times). */
  end: boolean;
  /** Power level in dBm0 below 0, 0-63 (RFC 4733 2.3.4); larger is quieter. */
  volume: number;
  /** Duration so far in timestamp units, 16 bits (RFC 4733 2.3.5). */
  duration: number;
}

export const TELEPHONE_EVENT_BYTES = 4;

/**
 * RFC 4733 2.3: event (8 bits), E (1), R reserved (1), volume (6), duration (16). The payload
 * may carry more than one event block on redundancy; the first is the current one. The
 * reserved bit is ignored as the RFC asks of receivers.
 */
export function parseTelephoneEvent(payload: Buffer): TelephoneEvent | undefined {
  if (payload.length < TELEPHONE_EVENT_BYTES) return undefined;
  return {
    event: payload[0],
    end: (payload[1] & 0x80) !== 0,
    volume: payload[1] & 0x3f,
    duration: payload.readUInt16BE(2),
  };
}

export function serializeTelephoneEvent(event: TelephoneEvent): Buffer {
  const out = Buffer.alloc(TELEPHONE_EVENT_BYTES);
  out[0] = event.event & 0xff;
  // RFC 4733 2.3: R must be sent as zero.
  out[1] = (event.end ? 0x80 : 0) | (Math.max(0, Math.min(63, Math.round(event.volume))) & 0x3f);
  out.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(event.duration))), 2);
  return out;
}

/** RFC 4733 3.2 table 7: DTMF events 0-15, indexed by event code. */
const DTMF_KEYS = '0123456789*#ABCD';

/** The pad key an event code stands for, or undefined for codes outside DTMF (16 and up). */
export function dtmfCharForEvent(event: number): string | undefined {
  return Number.isInteger(event) && event >= 0 && event < DTMF_KEYS.length ? DTMF_KEYS[event] : undefined;
}

/** The event code for a pad key (case-insensitive for A-D), or undefined for anything else. */
export function dtmfEventForChar(key: string): number | undefined {
  if (key.length !== 1) return undefined;
  const index = DTMF_KEYS.indexOf(key.toUpperCase());
  return index === -1 ? undefined : index;
}
