import * as sip from 'sip';
import { isIP } from 'node:net';

export type SipUri = sip.SipUri;

/** Parses a SIP or SIPS URI, or returns undefined. Accepts the `<...>` form people paste. */
export function parseSipUri(text: string): SipUri | undefined {
  const trimmed = text.trim().replace(/^<(.*)>$/, '$1');
  if (!/^sips?:/i.test(trimmed)) return undefined;
  let uri: SipUri | undefined;
  try {
    uri = sip.parseUri(trimmed);
  } catch {
    return undefined;
  }
  if (!uri || !uri.host) return undefined;
  uri.schema = uri.schema.toLowerCase();
  if (!Number.isFinite(uri.port)) delete uri.port;
  return uri;
}

export function formatSipUri(uri: SipUri): string {
  return sip.stringifyUri(uri);
}

/** `sip:user@host:port` for a host that may be an IPv6 literal. */
export function sipUri(user: string, host: string, port?: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return `sip:${user}@${h}${port ? `:${port}` : ''}`;
}

/** A user name typed alone, as the dial pad, the composer and the buddy list take it. */
const BARE_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * One rule for every address a user gives a command: a bare name (`bob`) means that user in
 * `overlay` (`sip:bob@OVERLAY`); anything else is taken as written, less its `<...>`.
 */
export function addressInOverlay(text: string, overlay: string | undefined): string {
  const trimmed = text.trim().replace(/^<(.*)>$/, '$1');
  return overlay && BARE_NAME.test(trimmed) ? `sip:${trimmed}@${overlay.toLowerCase()}` : trimmed;
}

/** `sip:user@OVERLAY` (lower case) when `text` names a user of `overlay` (a From, say); else undefined. */
export function overlayAorOf(text: string, overlay: string | undefined): string | undefined {
  const uri = parseSipUri(text);
  if (!overlay || !uri?.user || uri.host.toLowerCase() !== overlay.toLowerCase()) return undefined;
  return `sip:${uri.user.toLowerCase()}@${overlay.toLowerCase()}`;
}

/** The canonical form two URIs are compared by for a conversation: scheme, user, host, port. */
export function conversationKey(text: string): string | undefined {
  const uri = parseSipUri(text);
  if (!uri) return undefined;
  return sipUri(uri.user ?? '', uri.host.toLowerCase(), uri.port).replace(/^sip:@/, 'sip:');
}

/**
 * What two contact URIs are compared by (RFC 3261 19.1.4, the parts that matter for a binding):
 * scheme, user (case kept), host (case folded), port as written, and the transport parameter.
 */
export function sipUriKey(text: string): string | undefined {
  const uri = parseSipUri(text);
  if (!uri) return undefined;
  const transport = typeof uri.params?.transport === 'string' ? `;transport=${uri.params.transport.toLowerCase()}` : '';
  return `${uri.schema}:${uri.user ?? ''}@${uri.host.toLowerCase()}:${uri.port ?? ''}${transport}`;
}

/** A host as a URI writes it: an IPv6 address in brackets (RFC 3261 25.1, IPv6reference). */
/**
 * The URI parameter that pins a Peerdial node's TLS certificate (its SHA-256, base64url) in a
 * contact its owner signed: `sip:alice@192.0.2.10:5061;transport=tls;pdcert=...`.
 */
export const CERTIFICATE_URI_PARAM = 'pdcert';

/** `uri` reached at a TLS listener on its host: that port, transport=tls, and the listener's certificate pinned. */
export function pinnedTlsUri(uri: SipUri, port: number, certificate: string): string {
  return formatSipUri({ ...uri, port, params: { ...uri.params, transport: 'tls', [CERTIFICATE_URI_PARAM]: certificate } });
}

/** A sips: URI, or one with transport=tls: requests to it go over TLS (RFC 3261 26.2, RFC 3263). */
export function isTlsUri(text: string): boolean {
  const uri = parseSipUri(text);
  return !!uri && (uri.schema === 'sips' || String(uri.params.transport ?? '').toLowerCase() === 'tls');
}

export function hostForUri(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
