// The utilityProcess entry: runs the engine beside the Electron main process, so a busy or
// crashing engine never freezes the window. Main passes userData as `--data-dir DIR` and
// talks to it through process.parentPort (protocol in engine-channel.ts).
import type { ParentPort } from 'electron';
import { Engine } from '../native/roots/node-engine.js';
import { hostEngine, type ChannelPort } from './engine-channel.js';
import { dataDirArgument } from './shell-args.js';
import { KEYCHAIN_SECRET_ENV } from './keychain-secret.js';

/** parentPort hands listeners a MessageEvent; the channel wants the message itself. */
function channelPortOf(parentPort: ParentPort): ChannelPort {
  const wrapped = new Map<(message: unknown) => void, (event: Electron.MessageEvent) => void>();
  return {
    postMessage: (message) => parentPort.postMessage(message),
    on: (_event, listener) => {
      const unwrap = (event: Electron.MessageEvent) => listener(event.data);
      wrapped.set(listener, unwrap);
      parentPort.on('message', unwrap);
    },
    off: (_event, listener) => {
      const unwrap = wrapped.get(listener);
      if (unwrap) parentPort.off('message', unwrap);
      wrapped.delete(listener);
    },
  };
}

const parentPort = process.parentPort;
const dataDir = dataDirArgument(process.argv);
// The keychain secret main read through safeStorage; out of the environment before anything else runs.
const keychainSecret = process.env[KEYCHAIN_SECRET_ENV];
delete process.env[KEYCHAIN_SECRET_ENV];
if (!parentPort || !dataDir) {
  process.stderr.write('peerdial engine-host: run by the desktop app only (as a utilityProcess with --data-dir DIR).\n');
  process.exit(2);
}

hostEngine(
  channelPortOf(parentPort),
  async () => {
    // The desktop app finds the overlay through the BitTorrent DHT unless the user turned it off.
    const engine = await Engine.start({ dataDir, serveUi: false, dhtByDefault: true, ...(keychainSecret ? { keyProtector: { kind: 'os-keychain' as const, secret: keychainSecret } } : {}) });
    return { endpoint: engine.api, audio: engine.audio, stop: () => engine.stop() };
  },
  // Leave a moment for the 'stopped' frame to cross before the process ends.
  () => setTimeout(() => process.exit(0), 50),
);
