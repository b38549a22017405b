// Words for the LAN part of the Network screen: how a peer was found, what an offer sets (a
// TURN password is never shown), and what state the user's decision about an offer is in.
import type { ConfigOfferView, LanDiscoveryMethod, LanPeerView, SharedConfig } from './control-types.js';

const METHOD_WORDS: Record<LanDiscoveryMethod, string> = { mdns: 'mDNS', 'multicast-register': 'multicast REGISTER' };

export function foundBy(via: LanDiscoveryMethod[]): string {
  return via.length ? via.map((m) => METHOD_WORDS[m] ?? m).join(' and ') : 'not said';
}

/** "Looking by mDNS and multicast REGISTER", or why no peers will appear. */
export function discoveryLine(methods: LanDiscoveryMethod[]): string {
  return methods.length ? `Looking by ${foundBy(methods)}.` : 'LAN discovery is not running on this node.';
}

/** The peer's name for a list: its user's address when it said, else the start of its node ID. */
export function peerLabel(peer: LanPeerView): string {
  return peer.aor ?? `node ${peer.nodeId.slice(0, 8)}…`;
}

export function hostPort(peer: { host: string; port: number }): string {
  return `${peer.host.includes(':') ? `[${peer.host}]` : peer.host}:${peer.port}`;
}

/** One line per setting an offer carries, as "what it sets": [label, value]. */
export function configLines(config: SharedConfig): Array<[string, string]> {
  const lines: Array<[string, string]> = [];
  if (config.overlay !== undefined) lines.push(['Overlay', config.overlay]);
  if (config.bootstrap !== undefined) lines.push(['Bootstrap peers', config.bootstrap.join(', ') || 'none']);
  if (config.stun !== undefined) lines.push(['STUN servers', config.stun.join(', ') || 'none']);
  if (config.turn !== undefined) {
    const relays = config.turn.map((t) => `${t.address}${t.username ? ` as ${t.username}` : ''}${t.password ? ' (with a password)' : ''}`);
    lines.push(['TURN relays', relays.join(', ') || 'none']);
  }
  if (config.rescue !== undefined) lines.push(['Rescue sites', rescueWords(config.rescue)]);
  if (config.callerPolicy !== undefined) lines.push(['Who may call', config.callerPolicy === 'buddies' ? 'buddies only' : 'anyone']);
  return lines;
}

function rescueWords(r: NonNullable<SharedConfig['rescue']>): string {
  if (!r.enabled) return 'no';
  const limits = [
    r.donateMbit !== undefined ? `up to ${r.donateMbit} Mbit/s` : undefined,
    r.donateGbPerDay !== undefined ? `${r.donateGbPerDay} GB a day` : undefined,
    r.cacheMb !== undefined ? `${r.cacheMb} MB of cache` : undefined,
  ].filter(Boolean);
  return limits.length ? `yes, ${limits.join(', ')}` : 'yes';
}

export function offerStateWords(state: ConfigOfferView['state']): string {
  return state === 'following' ? 'Following: its later versions apply by themselves' : state === 'stopped' ? 'Not followed any more: what was applied stays' : 'Not accepted';
}

/** Who signed an offer, for labels: their name, else their address, else their key. */
export function signerLabel(offer: ConfigOfferView): string {
  return offer.signerName ?? offer.signerAor ?? `key ${offer.signerFingerprint}`;
}
