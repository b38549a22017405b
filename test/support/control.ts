// The control API of a running `peerdial node`, over its WebSocket, as the UI reaches it.
import WebSocket from 'ws';
import { webSocketClient, type WebSocketFactory } from '../../renderer/src/lib/control-client.js';

export type NodeControl = ReturnType<typeof webSocketClient>;

/** ws://HOST/control?token=T from the `ui:` URL a node printed. */
export function controlUrl(uiUrl: string): string {
  const url = new URL(uiUrl);
  return `ws://${url.host}/control?token=${encodeURIComponent(url.searchParams.get('token') ?? '')}`;
}

/** Connects to a node's control API (Node has no global WebSocket before v22: the `ws` package stands in). */
export function controlOf(node: { uiUrl: string }): NodeControl {
  return webSocketClient(controlUrl(node.uiUrl), ((u: string) => new WebSocket(u)) as unknown as WebSocketFactory);
}
