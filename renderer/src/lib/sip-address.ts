// The key a conversation is filed under, as the engine computes it (native/wire/sip/uri.ts
// conversationKey): scheme, user and host:port; parameters and headers do not name a peer.
// The renderer may not import the engine's runtime code, so this mirrors it for matching only;
// the engine's answer (MessageView.peer) always wins when they differ.
export function conversationKeyOf(address: string): string | undefined {
  const bare = address.trim().replace(/^<(.*)>$/, '$1');
  const match = /^sips?:(?:([^@;?]*)@)?([^;?]+)/i.exec(bare);
  if (!match) return undefined;
  const [, user, hostPort] = match;
  if (!hostPort || /\s/.test(hostPort)) return undefined;
  return `sip:${user ? `${user}@` : ''}${hostPort.toLowerCase()}`;
}

/** The user part the overlay accepts in a name (native/services/overlay/overlay-service.ts parseAorUser). */
const BARE_USER = /^[a-z0-9][a-z0-9._-]{0,31}$/i;

/**
 * What a person typed, as a SIP URI to send to: a bare user name (`bob`) becomes an AOR in this
 * node's overlay (`sip:bob@peerdial`), `bob@host` gains its scheme, and anything else is kept.
 */
export function addressFromInput(typed: string, overlay: string | undefined): string {
  const text = typed.trim();
  if (overlay && BARE_USER.test(text)) return `sip:${text.toLowerCase()}@${overlay}`;
  if (/^[^:@\s<>]+@[^@\s<>]+$/.test(text)) return `sip:${text}`;
  return text;
}

/** A user of this node's overlay (`sip:bob@OVERLAY`): an identity that can be blocked, unlike a phone's From. */
export function isOverlayUser(address: string, overlay: string | undefined): boolean {
  if (!overlay) return false;
  const key = conversationKeyOf(address);
  return !!key && /^sip:[^@]+@/.test(key) && key.endsWith(`@${overlay.toLowerCase()}`);
}

/**
 * A contact as the Network screen shows it: the address without its transport and certificate
 * parameters, and whether it is reached over TLS with a certificate pinned by its owner's record
 * (docs/protocol.md, "SIP over TLS").
 */
export function contactParts(contact: string): { address: string; tls: boolean; certificate?: string } {
  const [address, ...params] = contact.split(';');
  const values = new Map(params.map((p) => [p.split('=')[0].toLowerCase(), p.split('=')[1] ?? '']));
  const kept = params.filter((p) => !/^(transport|pdcert)(=|$)/i.test(p));
  const certificate = values.get('pdcert');
  return { address: [address, ...kept].join(';'), tls: values.get('transport')?.toLowerCase() === 'tls', ...(certificate ? { certificate } : {}) };
}
