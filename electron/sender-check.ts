// Who may call the control API over IPC: only our own window, and only while it shows our own
// page. A frame that navigated elsewhere (or any other webContents) is refused.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpcInvokeEventLike } from '../native/control/ipc-adapter.js';

/** True when `frameUrl` is a file:// URL of a file inside `rendererDir`. */
export function isRendererPage(frameUrl: string, rendererDir: string): boolean {
  let file: string;
  try {
    const url = new URL(frameUrl);
    if (url.protocol !== 'file:' || (url.host !== '' && url.host !== 'localhost')) return false;
    file = fileURLToPath(url);
  } catch {
    return false;
  }
  const relative = path.relative(path.resolve(rendererDir), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export function trustedSenderCheck(options: {
  /** Our window's webContents id, or undefined while there is no window. */
  windowContentsId(): number | undefined;
  rendererDir: string;
}): (event: IpcInvokeEventLike) => boolean {
  return (event) => {
    const ours = options.windowContentsId();
    if (ours === undefined || event.sender.id !== ours) return false;
    const url = event.senderFrame?.url;
    return typeof url === 'string' && isRendererPage(url, options.rendererDir);
  };
}
