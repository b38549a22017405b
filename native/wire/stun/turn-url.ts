// A TURN server as a user writes it (RFC 7065's turn: URI, with the credentials in front of the
// host as many clients take them): turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp].
import { isIP } from 'node:net';

export interface TurnServerUrl {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
  username: string;
  password: string;
}

/** RFC 7065 3: the default port of turn: is 3478. */
const DEFAULT_PORT = 3478;

export function parseTurnUrl(text: string): TurnServerUrl | { error: string } {
  const match = /^turn:([^:@\s]+):([^@\s]+)@(\[[0-9a-fA-F:.]+\]|[^:/?\s]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/i.exec(text.trim());
  if (!match) return { error: `"${text}" is not a TURN server: write turn:USER:PASSWORD@HOST[:PORT][?transport=udp|tcp]` };
  const [, username, password, rawHost, rawPort, transport] = match;
  const host = rawHost.replace(/^\[|\]$/g, '');
  const port = rawPort === undefined ? DEFAULT_PORT : Number(rawPort);
  if (!isIP(host)) return { error: `the TURN server's host must be an IP address (got "${host}")` };
  if (port < 1 || port > 65535) return { error: `the TURN server's port must be 1-65535 (got ${rawPort})` };
  return { host, port, transport: (transport?.toLowerCase() as 'udp' | 'tcp' | undefined) ?? 'udp', username: decodeURIComponent(username), password: decodeURIComponent(password) };
}

/** The URL without its password, for screens and logs. */
export function describeTurnUrl(url: TurnServerUrl): string {
  return `turn:${url.username}@${url.host.includes(':') ? `[${url.host}]` : url.host}:${url.port}?transport=${url.transport}`;
}
