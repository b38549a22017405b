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
