// RFC 4733 sender: the packets that carry one key press, one per 20 ms tick. The first has the
// marker bit (2.5.1.2), updates follow every packet interval with the duration so far, and the
// final packet, with the E bit, is sent three times (2.5.1.4). All share one RTP timestamp, the
// event's start; the caller gives each its own sequence number.
import { dtmfEventForChar, type TelephoneEvent } from '../../wire/rtp/telephone-event.js';

export interface DtmfPacketPlanEntry {
  marker: boolean;
  event: TelephoneEvent;
}

export interface DtmfPlanOptions {
  /** How long the tone lasts (default 100 ms); rounded up to whole frames. */
  durationMs?: number;
  /** Power in dBm0 below 0 (RFC 4733 2.3.4); 10 is a typical key press. */
  volume?: number;
  frameMs?: number;
  clockRate?: number;
}

export const DTMF_DEFAULT_DURATION_MS = 100;
const END_PACKET_COPIES = 3;
/** RFC 4733 2.5.1.3: longer events need segments; a key press never comes near this. */
const MAX_DURATION_UNITS = 0xffff;

export class InvalidDtmfKeyError extends Error {
  readonly code = 'INVALID_DTMF';
  constructor(readonly key: string) {
    super(`"${key}" is not a phone key; DTMF digits are 0-9, *, # and A-D`);
  }
}

/** The packets for one key, in sending order, one per frame tick. */
export function planDtmfPackets(key: string, options: DtmfPlanOptions = {}): DtmfPacketPlanEntry[] {
  const code = dtmfEventForChar(key);
  if (code === undefined) throw new InvalidDtmfKeyError(key);
  const frameMs = options.frameMs ?? 20;
  const clockRate = options.clockRate ?? 8000;
  const volume = options.volume ?? 10;
  const frames = Math.max(1, Math.ceil((options.durationMs ?? DTMF_DEFAULT_DURATION_MS) / frameMs));
  const unitsPerFrame = (clockRate * frameMs) / 1000;
  const totalUnits = Math.min(MAX_DURATION_UNITS, frames * unitsPerFrame);
  const plan: DtmfPacketPlanEntry[] = [];
  for (let i = 0; i < frames - 1; i++) {
    plan.push({ marker: i === 0, event: { event: code, end: false, volume, duration: (i + 1) * unitsPerFrame } });
  }
  for (let i = 0; i < END_PACKET_COPIES; i++) {
    plan.push({ marker: plan.length === 0, event: { event: code, end: true, volume, duration: totalUnits } });
  }
  return plan;
}

/** Checks a whole string of keys up front, so nothing is sent when any key is wrong. */
export function validateDtmfKeys(keys: string): void {
  for (const key of keys) if (dtmfEventForChar(key) === undefined) throw new InvalidDtmfKeyError(key);
}
