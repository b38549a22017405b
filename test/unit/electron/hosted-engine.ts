// Test helpers: a real Engine hosted behind engine-channel.ts over a worker_threads
// MessageChannel, the same protocol main and the utilityProcess speak.
import { MessageChannel } from 'node:worker_threads';
import { EngineChannelClient, hostEngine, type HostedEngine } from '../../../electron/engine-channel.js';
import { Engine } from '../../../native/roots/node-engine.js';
import { createLogger } from '../../../native/log.js';
import { freePort, removeDir, tempDataDir, TEST_DIFFICULTY } from '../../support/node-process.js';

export interface HostedEngineFixture {
  client: EngineChannelClient;
  sipPort: number;
  /** Resolves when the host side has stopped the engine and said so. */
  hostStopped: Promise<void>;
  cleanup(): Promise<void>;
}

export async function startRealEngine(dataDir: string, sipPort: number): Promise<HostedEngine> {
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort, serveUi: false, log: createLogger('test', 'silent'), overlayConfig: TEST_DIFFICULTY });
  return { endpoint: engine.api, audio: engine.audio, stop: () => engine.stop() };
}

export async function startHostedEngine(start: (dataDir: string, sipPort: number) => Promise<HostedEngine> = startRealEngine): Promise<HostedEngineFixture> {
  const dataDir = await tempDataDir('peerdial-electron-');
  const sipPort = await freePort();
  const { port1, port2 } = new MessageChannel();
  let markStopped!: () => void;
  const hostStopped = new Promise<void>((resolve) => (markStopped = resolve));
  hostEngine(port1, () => start(dataDir, sipPort), () => markStopped());
  const client = new EngineChannelClient(port2);
  return {
    client,
    sipPort,
    hostStopped,
    async cleanup() {
      await client.stop(2_000);
      client.close();
      port1.close();
      port2.close();
      await removeDir(dataDir);
    },
  };
}
