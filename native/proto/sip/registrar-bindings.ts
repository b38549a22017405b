// A registrar's bindings for one address of record, sans IO: what a REGISTER that passed
// authentication does to them (RFC 3261 10.3, steps 6 to 8), with RFC 5626's flows, where a
// contact with +sip.instance and reg-id replaces the binding of the same instance and reg-id
// whatever its URI (the phone moved, or its NAT gave it another port).
import { sipUriKey } from '../../wire/sip/uri.js';

export interface FlowSource {
  protocol: 'udp' | 'tcp' | 'tls';
  address: string;
  port: number;
}

export interface Binding {
  /** The Contact URI, as the phone wrote it. */
  contact: string;
  /** ms since the epoch. */
  expiresAt: number;
  callId: string;
  cseq: number;
  /** RFC 3261 10.2.1.2: the phone's preference among its contacts, 0 to 1. */
  q?: number;
  /** RFC 5626: the phone's instance ID and registration flow. */
  instance?: string;
  regId?: number;
  /** Where the REGISTER came from: requests for the binding go back on this flow. */
  source: FlowSource;
  userAgent?: string;
}

export interface ContactEntry {
  uri: string;
  params: Record<string, unknown>;
}

export interface RegisterRequest {
  /** The Contact header's entries, or '*' (RFC 3261 10.2.2: remove all). Empty: a query. */
  contacts: ContactEntry[] | '*';
  /** The Expires header, when there is one. */
  expires?: number;
  callId: string;
  cseq: number;
  source: FlowSource;
  userAgent?: string;
}

export interface BindingLimits {
  minExpiresS: number;
  maxExpiresS: number;
  defaultExpiresS: number;
  /** Bindings one AOR may hold. */
  maxBindings: number;
}

export const DEFAULT_BINDING_LIMITS: BindingLimits = { minExpiresS: 60, maxExpiresS: 3600, defaultExpiresS: 3600, maxBindings: 10 };

export type RegisterOutcome =
  | { ok: true; bindings: Binding[] }
  | { ok: false; status: 400 | 423 | 500 | 503; reason: string; minExpiresS?: number };

/** The bindings after this REGISTER (the live ones only), or the response that refuses it. */
export function applyRegister(current: readonly Binding[], request: RegisterRequest, now: number, limits: BindingLimits = DEFAULT_BINDING_LIMITS): RegisterOutcome {
  const live = current.filter((b) => b.expiresAt > now);
  if (request.contacts === '*') {
    // Step 6: "*" only with Expires: 0, and alone.
    if (request.expires !== 0) return { ok: false, status: 400, reason: 'Bad Request (Contact: * needs Expires: 0)' };
    // Every binding goes, unless one of them is newer than this request.
    if (live.some((b) => b.callId === request.callId && request.cseq <= b.cseq)) return outOfOrder();
    return { ok: true, bindings: [] };
  }
  let bindings = [...live];
  for (const entry of request.contacts) {
    const expiresS = expiresOf(entry, request.expires, limits.defaultExpiresS);
    if (expiresS === undefined) return { ok: false, status: 400, reason: `Bad Request (bad expires for ${entry.uri})` };
    // Step 7: too brief is refused with the least we take (423); too long is cut to the most.
    if (expiresS > 0 && expiresS < limits.minExpiresS) return { ok: false, status: 423, reason: 'Interval Too Brief', minExpiresS: limits.minExpiresS };
    const instance = typeof entry.params['+sip.instance'] === 'string' ? unquote(entry.params['+sip.instance'] as string) : undefined;
    const regIdText = entry.params['reg-id'];
    const regId = instance !== undefined && typeof regIdText === 'string' && /^\d{1,10}$/.test(regIdText) ? Number(regIdText) : undefined;
    const key = sipUriKey(entry.uri);
    if (key === undefined) return { ok: false, status: 400, reason: `Bad Request (Contact ${entry.uri} is not a SIP URI)` };
    const existing = bindings.find((b) => (regId !== undefined ? b.instance === instance && b.regId === regId : b.regId === undefined && sipUriKey(b.contact) === key));
    // Step 8: the same Call-ID must come with a higher CSeq.
    if (existing && existing.callId === request.callId && request.cseq <= existing.cseq) return outOfOrder();
    bindings = bindings.filter((b) => b !== existing);
    if (expiresS === 0) continue;
    const q = parseQ(entry.params.q);
    bindings.push({
      contact: entry.uri,
      expiresAt: now + Math.min(expiresS, limits.maxExpiresS) * 1000,
      callId: request.callId,
      cseq: request.cseq,
      ...(q !== undefined ? { q } : {}),
      ...(instance !== undefined ? { instance } : {}),
      ...(regId !== undefined ? { regId } : {}),
      source: request.source,
      ...(request.userAgent ? { userAgent: request.userAgent } : {}),
    });
  }
  if (bindings.length > limits.maxBindings) return { ok: false, status: 503, reason: `Service Unavailable (at most ${limits.maxBindings} contacts for one address)` };
  return { ok: true, bindings };
}

/** The Contact values a 200 to REGISTER lists: every binding with the seconds it has left (RFC 3261 10.3 step 8). */
export function contactsOf(bindings: readonly Binding[], now: number): ContactEntry[] {
  return bindings.map((b) => ({ uri: b.contact, params: { expires: String(Math.max(0, Math.round((b.expiresAt - now) / 1000))) } }));
}

function outOfOrder(): RegisterOutcome {
  return { ok: false, status: 500, reason: 'Server Internal Error (a REGISTER older than the binding it would change)' };
}

/** The contact's expires parameter, else the Expires header, else the default; undefined when unreadable. */
function expiresOf(entry: ContactEntry, header: number | undefined, fallback: number): number | undefined {
  const param = entry.params.expires;
  if (param !== undefined && param !== null) {
    const text = String(param);
    if (!/^\d{1,10}$/.test(text)) return undefined;
    return Number(text);
  }
  return header ?? fallback;
}

function parseQ(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return undefined;
  return Number(value);
}

function unquote(text: string): string {
  return text.replace(/^"(.*)"$/, '$1');
}
