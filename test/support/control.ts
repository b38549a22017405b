// The control API of a running `peerdial node`, over its WebSocket, as the UI reaches it.
import WebSocket from 'ws';
import { webSocketClient, type WebSocketFactory } from '../../renderer/src/lib/control-client.js';
import { until } from './poll.js';

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

/** Waits until `node` is registered in its overlay and finds the user `other` there (slow on a busy machine: up to 30 s). */
export async function untilFoundInOverlay(node: { uiUrl: string }, other: string): Promise<void> {
  const client = controlOf(node);
  try {
    await until(`${other} to be found through the overlay`, async () => {
      const status = await client.invoke('overlay.status', {});
      if (status.registration.state !== 'registered') return false;
      const found = await client.invoke('overlay.lookup', { aor: other });
      return found.contacts.length > 0;
    }, 30_000, undefined, 300);
  } finally {
    client.close();
  }
}

/** Waits until each of two users finds the other in the overlay (through their nodes' control APIs). */
export async function untilFoundByEachOther(a: { api: NodeControl; user: string }, b: { api: NodeControl; user: string }): Promise<void> {
  await until('each user found in the overlay by the other', async () => {
    const [ab, ba] = await Promise.all([a.api.invoke('overlay.lookup', { aor: b.user }).catch(() => undefined), b.api.invoke('overlay.lookup', { aor: a.user }).catch(() => undefined)]);
    return !!ab?.contacts.length && !!ba?.contacts.length;
  });
}
