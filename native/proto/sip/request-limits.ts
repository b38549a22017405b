// Per-source token buckets in front of every SIP method (issue 21): a source over its rate gets
// 503 with Retry-After (RFC 3261 21.5.4, 20.33), answered statelessly. Sans-IO: time comes in.
//
// Which "source": the address and port a request came from (for TCP and TLS, the connection),
// and, behind it, the address alone with `addressFactor` times the room. Loopback test rings put
// 20 nodes on 127.0.0.1, and an office NAT puts many users behind one address: each of those
// sends from a port of its own and gets a bucket of its own. A flooder that rotates source ports
// (UDP lets it pick any) still meets the address's bucket. Over UDP both can be spoofed; a
// spoofed flood can at worst spend a real peer's budget, and each refusal answered is no bigger
// than the request (refusal answers are rate limited too, so we are no amplifier).
//
// Requests are limited by class, so one kind of flood does not starve another: a MESSAGE flood
// does not refuse the same source's INVITE, nor the BYE of its live call.
// - ACK is never limited (RFC 3261 17: it is never answered, and keeps no state here);
// - a retransmission of a request we hold a transaction for, and a CANCEL of an INVITE we hold,
//   are not new work and are never limited (the caller of sip-stack checks that);
// - requests inside a dialog (a To tag) have their own class with a high limit: not unlimited,
//   since anyone can write a To tag, but no flood of another class ever reaches it.
import { SourceRateLimit } from './source-rate-limit.js';

export const LIMIT_CLASSES = ['invite', 'message', 'subscribe', 'register', 'overlay', 'dialog', 'other'] as const;
export type LimitClass = (typeof LIMIT_CLASSES)[number];

export interface ClassLimit {
  /** Tokens a second, per source address and port. */
  perSecond: number;
  /** The bucket's size: requests a quiet source may send at once. */
  burst: number;
}

export type RequestLimitsConfig = Record<LimitClass, ClassLimit | undefined>;

/**
 * Far above what a user, a phone or an overlay node sends one node: a node's own Chord traffic to
 * one peer is a few requests a second; a replication round sends a few dozen store batches at once.
 * MESSAGE is above the phone proxy's own 100/s per address (phones-service), so that limit still
 * speaks first for phones; the IM service keeps its own, lower, per-sender limit on what it stores.
 */
export const DEFAULT_REQUEST_LIMITS: RequestLimitsConfig = {
  invite: { perSecond: 20, burst: 50 },
  message: { perSecond: 150, burst: 300 },
  subscribe: { perSecond: 20, burst: 100 },
  register: { perSecond: 150, burst: 300 },
  overlay: { perSecond: 200, burst: 1_000 },
  dialog: { perSecond: 200, burst: 500 },
  other: { perSecond: 50, burst: 200 },
};

/** One address (all its ports together) gets this many times a source's room. */
export const DEFAULT_ADDRESS_FACTOR = 10;

/** The class of a request, or undefined for one never limited (ACK). */
export function limitClassOf(method: string, inDialog: boolean, overlay: boolean): LimitClass | undefined {
  if (method === 'ACK') return undefined;
  if (inDialog) return 'dialog';
  switch (method) {
    case 'INVITE':
      return 'invite';
    case 'MESSAGE':
      return 'message';
    case 'SUBSCRIBE':
      return 'subscribe';
    case 'REGISTER':
      return overlay ? 'overlay' : 'register';
    default:
      return 'other';
  }
}

/** A source that was limited, as node.status lists it. */
export interface LimitedSource {
  address: string;
  /** The limit it met: a request class, `tcp`, `message-size` or `message-sender`. */
  method: string;
  count: number;
  lastAt: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterS: number; answer: boolean };

const MAX_LISTED_SOURCES = 32;
/** Refusals answered with a 503, per source address: beyond this they are dropped unanswered. */
const ANSWERS_PER_SECOND = 20;

export class RequestLimiter {
  private readonly perSource = new Map<LimitClass, SourceRateLimit>();
  private readonly perAddress = new Map<LimitClass, SourceRateLimit>();
  private readonly answers = new SourceRateLimit({ perSecond: ANSWERS_PER_SECOND, burst: 2 * ANSWERS_PER_SECOND });
  readonly refused: Record<LimitClass, number> = { invite: 0, message: 0, subscribe: 0, register: 0, overlay: 0, dialog: 0, other: 0 };
  /** Refusals not answered (the source was refused faster than ANSWERS_PER_SECOND). */
  unanswered = 0;
  private readonly listed = new Map<string, LimitedSource>();

  constructor(config: Partial<RequestLimitsConfig> = DEFAULT_REQUEST_LIMITS, addressFactor = DEFAULT_ADDRESS_FACTOR) {
    for (const name of LIMIT_CLASSES) {
      const limit = name in config ? config[name] : DEFAULT_REQUEST_LIMITS[name];
      if (!limit || limit.perSecond <= 0) continue;
      this.perSource.set(name, new SourceRateLimit({ perSecond: limit.perSecond, burst: limit.burst }));
      if (addressFactor > 0) this.perAddress.set(name, new SourceRateLimit({ perSecond: limit.perSecond * addressFactor, burst: limit.burst * addressFactor }));
    }
  }

  /** Takes one request of `kind` from `address`:`port` at `now`. */
  check(kind: LimitClass, address: string, port: number, now: number): LimitDecision {
    const source = this.perSource.get(kind);
    if (!source) return { allowed: true };
    const key = `${address}|${port}`;
    const byAddress = this.perAddress.get(kind);
    if (source.allow(key, now) && (!byAddress || byAddress.allow(address, now))) return { allowed: true };
    this.refused[kind]++;
    this.note(address, kind, now);
    const waitMs = Math.max(source.waitMs(key, now), byAddress?.waitMs(address, now) ?? 0);
    const answer = this.answers.allow(address, now);
    if (!answer) this.unanswered++;
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)), answer };
  }

  /** Lists `address` as limited by `method` (also for limits kept elsewhere: TCP, message size and sender). */
  note(address: string, method: string, now: number): void {
    const key = `${address}|${method}`;
    const entry = this.listed.get(key);
    if (entry) {
      entry.count++;
      entry.lastAt = now;
      return;
    }
    if (this.listed.size >= MAX_LISTED_SOURCES) {
      // The one limited longest ago makes room: a flood now matters more than one an hour ago.
      let oldest: string | undefined;
      let oldestAt = Infinity;
      for (const [k, v] of this.listed) {
        if (v.lastAt < oldestAt) {
          oldestAt = v.lastAt;
          oldest = k;
        }
      }
      if (oldest) this.listed.delete(oldest);
    }
    this.listed.set(key, { address, method, count: 1, lastAt: now });
  }

  /** The sources limited, most refused first. */
  sources(): LimitedSource[] {
    return [...this.listed.values()].map((s) => ({ ...s })).sort((a, b) => b.count - a.count || b.lastAt - a.lastAt);
  }
}

/**
 * `--sip-method-limits`: `off`, or a comma-separated list of CLASS=RATE[/BURST] (RATE 0 turns that
 * class off), e.g. `invite=5/10,message=50`. Throws a sentence for anything else.
 */
export function parseRequestLimits(text: string): RequestLimitsConfig {
  const config: RequestLimitsConfig = { ...DEFAULT_REQUEST_LIMITS };
  if (text.trim().toLowerCase() === 'off') {
    for (const name of LIMIT_CLASSES) config[name] = undefined;
    return config;
  }
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\d{1,7})(?:\/(\d{1,7}))?\s*$/i.exec(part);
    const name = m?.[1].toLowerCase() as LimitClass | undefined;
    if (!m || !name || !LIMIT_CLASSES.includes(name)) {
      throw new Error(`"${part.trim()}" is not CLASS=RATE[/BURST] with CLASS one of ${LIMIT_CLASSES.join(', ')}`);
    }
    const perSecond = Number(m[2]);
    const burst = m[3] === undefined ? Math.max(perSecond, DEFAULT_REQUEST_LIMITS[name]!.burst * (perSecond / DEFAULT_REQUEST_LIMITS[name]!.perSecond)) : Number(m[3]);
    if (perSecond > 0 && burst < 1) throw new Error(`the burst of ${name} must be at least 1`);
    config[name] = perSecond === 0 ? undefined : { perSecond, burst: Math.ceil(burst) };
  }
  return config;
}
