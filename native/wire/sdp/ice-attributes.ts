// ICE in SDP (RFC 8839): a=ice-ufrag, a=ice-pwd, a=candidate and a=ice-options on the audio
// stream, with a=rtcp-mux (RFC 5761) since Peerdial checks one component only.
import { parse, type MediaDescription, type SessionDescription } from 'sdp-transform';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** One candidate of the one component Peerdial uses (RTP and RTCP multiplexed, RFC 5761). */
export interface IceCandidate {
  foundation: string;
  component: 1;
  transport: 'udp';
  priority: number;
  address: string;
  port: number;
  type: CandidateType;
  /** raddr/rport (RFC 8839 5.1): the base of a reflexive candidate, the mapped address of a relayed one. */
  related?: { address: string; port: number };
}

export interface IceDescription {
  ufrag: string;
  pwd: string;
  candidates: IceCandidate[];
  /**
   * The candidate that goes in c= and m= (RFC 8839 4.2.1.1), where a peer without ICE sends its
   * media: the server-reflexive one when there is one, else the host one.
   */
  defaultCandidate?: { address: string; port: number };
}

/** What the peer's SDP says of ICE; `rtcpMux` whether it multiplexes RTCP (RFC 5761 5.1.1). */
export interface RemoteIce extends IceDescription {
  rtcpMux: boolean;
}

type IceMedia = MediaDescription & {
  iceUfrag?: string;
  icePwd?: string;
  iceOptions?: string;
  rtcpMux?: string;
  candidates?: { foundation: string; component: number; transport: string; priority: number | string; ip: string; port: number; type: string; raddr?: string; rport?: number }[];
};

/** Adds our ICE attributes to an audio m= section. */
export function writeIce(media: MediaDescription, ice: IceDescription): void {
  const m = media as IceMedia;
  m.iceUfrag = ice.ufrag;
  m.icePwd = ice.pwd;
  // RFC 8445 compliance (RFC 8839 5.6): the peer may rely on its rules.
  m.iceOptions = 'ice2';
  m.rtcpMux = 'rtcp-mux';
  m.candidates = ice.candidates.map((c) => ({
    foundation: c.foundation,
    component: c.component,
    transport: 'udp',
    priority: c.priority,
    ip: c.address,
    port: c.port,
    type: c.type,
    ...(c.related ? { raddr: c.related.address, rport: c.related.port } : {}),
  }));
}

const TYPES = new Set(['host', 'srflx', 'prflx', 'relay']);
const UFRAG = /^[A-Za-z0-9+/]{4,256}$/;
const PWD = /^[A-Za-z0-9+/]{22,256}$/;

/**
 * Reads ICE from an m= section (media-level attributes win over session-level ones, RFC 8839
 * 5.4). Undefined when the peer does not do ICE (no ufrag or password): then media goes to c=/m=.
 * Candidates for other transports or components, or with bad addresses, are left out.
 */
export function readIce(sdp: SessionDescription, media: MediaDescription): RemoteIce | undefined {
  const m = media as IceMedia;
  const session = sdp as SessionDescription & { iceUfrag?: string; icePwd?: string };
  const ufrag = iceChars(m.iceUfrag ?? session.iceUfrag);
  const pwd = iceChars(m.icePwd ?? session.icePwd);
  // The ICE grammar allows ice-chars (ALPHA / DIGIT / "+" / "/"); base64url's "-" and "_" are ours too.
  if (!ufrag || !pwd || !UFRAG.test(ufrag.replace(/[-_]/g, 'a')) || !PWD.test(pwd.replace(/[-_]/g, 'a'))) return undefined;
  const candidates: IceCandidate[] = [];
  for (const c of m.candidates ?? []) {
    const priority = Number(c.priority);
    const port = Number(c.port);
    if (Number(c.component) !== 1 || String(c.transport).toLowerCase() !== 'udp' || !TYPES.has(c.type)) continue;
    if (!Number.isInteger(priority) || priority < 1 || priority > 0xffffffff || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    if (!/^[0-9a-fA-F.:]+$/.test(String(c.ip))) continue; // mDNS .local candidates are not resolved
    candidates.push({
      foundation: String(c.foundation).slice(0, 32),
      component: 1,
      transport: 'udp',
      priority,
      address: String(c.ip),
      port,
      type: c.type as IceCandidate['type'],
      ...(c.raddr && c.rport !== undefined ? { related: { address: String(c.raddr), port: Number(c.rport) } } : {}),
    });
  }
  return { ufrag, pwd, candidates, rtcpMux: m.rtcpMux !== undefined };
}

/** sdp-transform turns an all-digit value (`a=ice-ufrag:1111`) into a number; ice-chars allow digits. */
function iceChars(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : undefined;
}

/** The ufrag of an offer's first audio stream, when it carries ICE. */
export function offeredIceUfrag(text: string): string | undefined {
  try {
    const sdp = parse(text);
    const audio = sdp.media?.find((m) => m.type === 'audio');
    return audio && readIce(sdp, audio)?.ufrag;
  } catch {
    return undefined;
  }
}

/** Whether an offer's first audio stream carries ICE: then our answer gathers candidates too. */
export function offersIce(text: string): boolean {
  return offeredIceUfrag(text) !== undefined;
}

/** Our SDP with these candidates: c= and m= carry the default one (RFC 8839 4.2.1.1). */
export function withIce<L extends { address: string; port: number; ice?: IceDescription }>(local: L, ice: IceDescription): L {
  return { ...local, ice, ...(ice.defaultCandidate ? { address: ice.defaultCandidate.address, port: ice.defaultCandidate.port } : {}) };
}
