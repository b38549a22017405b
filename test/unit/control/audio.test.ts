// Call audio over both control adapters, each in front of a real engine's audio endpoint:
// Electron IPC (the real preload over the in-process IPC stand-in) and the WebSocket of browser
// mode (the renderer's own client). Microphone frames reach the engine sample for sample, frames
// of the wrong size are dropped and counted, and speaker frames go only to a client listening.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { AUDIO_FRAME_SAMPLES, AUDIO_SAMPLE_RATE } from '../../../native/control/api.js';
import { bindIpcControl, type IpcAudioCounters } from '../../../native/control/ipc-adapter.js';
import { WsControlAdapter } from '../../../native/control/ws-adapter.js';
import { Engine } from '../../../native/roots/node-engine.js';
import { createLogger } from '../../../native/log.js';
import { bridgeClient, webSocketClient, type AudioChannel, type WebSocketFactory } from '../../../renderer/src/lib/control-client.js';
import { FakeWebContents } from '../../support/fake-electron-ipc.js';
import { removeDir, tempDataDir, TEST_DIFFICULTY } from '../../support/node-process.js';
import { until } from '../../support/poll.js';
import { MessagingIpcMain, messagingIpcRenderer, runPreloadInSandbox } from '../electron/preload-sandbox.js';

const APP_URL = 'file:///opt/Peerdial/resources/app/dist/renderer/index.html';
const wsFactory: WebSocketFactory = (url) => new WebSocket(url) as unknown as ReturnType<WebSocketFactory>;

interface AudioHarness {
  engine: Engine;
  /** A client as the renderer has it. */
  connect(): Promise<AudioChannel & { close(): void }>;
  /** Microphone frames the adapter dropped so far. */
  dropped(): number;
  /** A page that is not ours, where the adapter can tell (IPC only). */
  connectForeign?(): Promise<AudioChannel>;
  /** A bare WebSocket to the control endpoint (WebSocket only). */
  rawSocket?(): Promise<WebSocket>;
  close(): Promise<void>;
}

async function startEngine() {
  const dataDir = await tempDataDir();
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, serveUi: false, log: createLogger('test', 'silent'), overlayConfig: TEST_DIFFICULTY });
  return { engine, dataDir };
}

const adapters: Record<string, () => Promise<AudioHarness>> = {
  ipc: async () => {
    const { engine, dataDir } = await startEngine();
    const ipcMain = new MessagingIpcMain();
    const counters: IpcAudioCounters = { microphoneFramesDropped: 0 };
    const windows: FakeWebContents[] = [];
    const unbind = bindIpcControl({ ipcMain, endpoint: engine.api, audio: engine.audio, isTrustedSender: (e) => e.senderFrame?.url === APP_URL }, counters);
    const open = (url: string) => {
      const contents = new FakeWebContents();
      windows.push(contents);
      const client = bridgeClient(runPreloadInSandbox(messagingIpcRenderer(ipcMain, contents, url)).bridge);
      return Object.assign(client, { close: () => contents.destroy() });
    };
    return {
      engine,
      connect: async () => open(APP_URL),
      connectForeign: async () => open('https://evil.example/'),
      dropped: () => counters.microphoneFramesDropped,
      close: async () => {
        windows.forEach((w) => w.destroy());
        unbind();
        await engine.stop();
        await removeDir(dataDir);
      },
    };
  },
  websocket: async () => {
    const { engine, dataDir } = await startEngine();
    const adapter = new WsControlAdapter({ endpoint: engine.api, audio: engine.audio, token: 'secret', allowedOrigins: () => [] });
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket, head) => {
      if (!adapter.handleUpgrade(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/control?token=secret`;
    const clients: Array<{ close(): void }> = [];
    return {
      engine,
      connect: async () => {
        const client = webSocketClient(url, wsFactory);
        clients.push(client);
        // Audio is live and never queued: wait for the socket before speaking.
        await new Promise<void>((resolve) => client.onConnection((up) => up && resolve()));
        return client;
      },
      dropped: () => adapter.microphoneFramesDropped,
      rawSocket: async () => {
        const ws = new WebSocket(url);
        clients.push(ws);
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        return ws;
      },
      close: async () => {
        clients.forEach((c) => c.close());
        adapter.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await engine.stop();
        await removeDir(dataDir);
      },
    };
  },
};

const frameOf = (f: (i: number) => number) => Int16Array.from({ length: AUDIO_FRAME_SAMPLES }, (_, i) => f(i));
const bytes = (frame: Int16Array) => frame.slice().buffer;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const [name, make] of Object.entries(adapters)) {
  describe(`call audio over ${name}`, () => {
    let h: AudioHarness;
    before(async () => {
      h = await make();
    });
    after(() => h.close());

    it('carries microphone frames to the engine in order, sample for sample', async () => {
      const client = await h.connect();
      const frames = [frameOf((i) => i), frameOf((i) => -i * 200), frameOf((i) => (i % 2 ? 32767 : -32768))];
      for (const frame of frames) client.sendAudio(bytes(frame));
      const mic = h.engine.audio.microphone;
      await until('three microphone frames', async () => mic.length === 3, 3_000, undefined, 10);
      for (const frame of frames) assert.deepEqual([...mic.read(AUDIO_SAMPLE_RATE)!], [...frame]);
      client.close();
    });

    it('drops and counts a frame of the wrong size, and keeps the connection for the next one', async () => {
      const client = await h.connect();
      const before = h.dropped();
      client.sendAudio(new ArrayBuffer(AUDIO_FRAME_SAMPLES * 2 - 2));
      client.sendAudio(new ArrayBuffer(AUDIO_FRAME_SAMPLES * 4));
      const good = frameOf((i) => 1000 - i);
      client.sendAudio(bytes(good));
      const mic = h.engine.audio.microphone;
      await until('the good frame', async () => mic.length === 1, 3_000, undefined, 10);
      assert.deepEqual([...mic.read(AUDIO_SAMPLE_RATE)!], [...good]);
      assert.equal(h.dropped() - before, 2);
      client.close();
    });

    it('sends speaker frames only to a client that listens, until it stops', async () => {
      const listener = await h.connect();
      const heard: Int16Array[] = [];
      const stop = listener.onAudio((frame) => heard.push(new Int16Array(frame)));
      const speaker = h.engine.audio.speakerSink();
      const tone = frameOf((i) => Math.round(12000 * Math.sin(i / 4)));
      // Until the request crosses, frames have nowhere to go; keep playing as a call would.
      await until(
        'a speaker frame',
        async () => {
          speaker.write(tone, AUDIO_SAMPLE_RATE);
          return heard.length > 0;
        },
        3_000,
        undefined,
        20,
      );
      assert.deepEqual([...heard[0]], [...tone]);
      stop();
      await pause(100);
      const count = heard.length;
      speaker.write(tone, AUDIO_SAMPLE_RATE);
      await pause(100);
      assert.equal(heard.length, count, 'nothing after unsubscribing');
      listener.close();
    });

    if (name === 'websocket') {
      it('sends no speaker frames to a client that did not ask for them', async () => {
        const bystander = await h.rawSocket!();
        const binary: unknown[] = [];
        bystander.on('message', (data, isBinary) => isBinary && binary.push(data));
        const listener = await h.connect();
        const heard: ArrayBuffer[] = [];
        listener.onAudio((frame) => heard.push(frame));
        const speaker = h.engine.audio.speakerSink();
        await until(
          'a speaker frame for the listener',
          async () => {
            speaker.write(frameOf(() => 7), AUDIO_SAMPLE_RATE);
            return heard.length > 0;
          },
          3_000,
          undefined,
          20,
        );
        await pause(50);
        assert.deepEqual(binary, []);
        listener.close();
      });
    }

    if (name === 'ipc') {
      it('ignores audio from a page that is not ours', async () => {
        const foreign = await h.connectForeign!();
        foreign.sendAudio(bytes(frameOf((i) => i)));
        const heard: ArrayBuffer[] = [];
        foreign.onAudio((frame) => heard.push(frame));
        await pause(50);
        h.engine.audio.speakerSink().write(frameOf(() => 5), AUDIO_SAMPLE_RATE);
        await pause(100);
        assert.equal(h.engine.audio.microphone.length, 0);
        assert.deepEqual(heard, []);
      });
    }
  });
}
