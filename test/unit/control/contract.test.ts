// One contract suite, run against both control adapters: Electron IPC (through an in-process
// stand-in for ipcMain/ipcRenderer) and the WebSocket server of browser mode, each in front of
// a real engine.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ControlEndpoint, StreamItem } from '../../../native/control/api.js';
import { bindIpcControl } from '../../../native/control/ipc-adapter.js';
import { Engine } from '../../../native/roots/node-engine.js';
import { bridgeClient, webSocketClient, type WebSocketFactory } from '../../../renderer/src/lib/control-client.js';
import { bridgeOver, FakeIpcMain, FakeWebContents, fakeIpcRenderer } from '../../support/fake-electron-ipc.js';
import { freePort, removeDir, tempDataDir, TEST_DIFFICULTY } from '../../support/node-process.js';

const APP_URL = 'file:///opt/Peerdial/resources/app/dist/renderer/index.html';
const wsFactory: WebSocketFactory = (url) => new WebSocket(url) as unknown as ReturnType<WebSocketFactory>;

interface Harness {
  engine: Engine;
  client: ControlEndpoint;
  close(): Promise<void>;
}

async function startEngine(): Promise<{ engine: Engine; dataDir: string }> {
  const dataDir = await tempDataDir();
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, serveUi: true, overlayConfig: TEST_DIFFICULTY });
  return { engine, dataDir };
}

const adapters: Record<string, () => Promise<Harness>> = {
  ipc: async () => {
    const { engine, dataDir } = await startEngine();
    const ipcMain = new FakeIpcMain();
    const contents = new FakeWebContents();
    const unbind = bindIpcControl({ ipcMain, endpoint: engine.api, isTrustedSender: (e) => e.senderFrame?.url === APP_URL });
    const client = bridgeClient(bridgeOver(fakeIpcRenderer(ipcMain, contents, APP_URL)));
    return {
      engine,
      client,
      close: async () => {
        contents.destroy();
        unbind();
        await engine.stop();
        await removeDir(dataDir);
      },
    };
  },
  websocket: async () => {
    const { engine, dataDir } = await startEngine();
    const client = webSocketClient(engine.uiUrl!.replace(/^http:\/\/([^/]+)\/\?token=/, 'ws://$1/control?token='), wsFactory);
    return {
      engine,
      client,
      close: async () => {
        client.close();
        await engine.stop();
        await removeDir(dataDir);
      },
    };
  },
};

function collect(client: ControlEndpoint, since?: { epoch: string; seq: number }) {
  const items: StreamItem[] = [];
  const stop = client.subscribe(since, (i) => items.push(i));
  const waitFor = async (predicate: (items: StreamItem[]) => boolean, what: string) => {
    for (let i = 0; i < 200 && !predicate(items); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(predicate(items), `timed out waiting for ${what}; got ${JSON.stringify(items.map((x) => x.type))}`);
  };
  return { items, stop, waitFor };
}

for (const [name, make] of Object.entries(adapters)) {
  describe(`control API over ${name}`, () => {
    let h: Harness;
    before(async () => {
      h = await make();
    });
    after(() => h.close());

    it('reports no identity before the first-run screen', async () => {
      assert.equal(await h.client.invoke('identity.get', {}), null);
    });

    it('rejects a bad user name with INVALID_ARGUMENT and a sentence', async () => {
      await assert.rejects(h.client.invoke('identity.create', { displayName: 'Alice', userName: 'no spaces allowed' }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'INVALID_ARGUMENT');
        assert.match(e.message, /user name/);
        return true;
      });
    });

    it('rejects parameters of the wrong type with INVALID_ARGUMENT', async () => {
      await assert.rejects(h.client.invoke('identity.create', { displayName: 42 as unknown as string, userName: 'x' }), { code: 'INVALID_ARGUMENT' });
    });

    it('rejects an unknown command with UNKNOWN_COMMAND', async () => {
      await assert.rejects(h.client.invoke('calls.teleport' as 'identity.get', {}), { code: 'UNKNOWN_COMMAND' });
    });

    it('refuses to send a message before an identity exists', async () => {
      await assert.rejects(h.client.invoke('im.send', { to: 'sip:bob@127.0.0.1:5999', text: 'hi' }), { code: 'NO_IDENTITY' });
    });

    it('streams a reset first, then live events such as identity.created', async () => {
      const stream = collect(h.client);
      await stream.waitFor((items) => items[0]?.type === 'reset', 'reset');
      const identity = await h.client.invoke('identity.create', { displayName: 'Alice', userName: 'alice' });
      assert.equal(identity.userName, 'alice');
      assert.match(identity.fingerprint, /^([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
      await stream.waitFor((items) => items.some((i) => i.type === 'identity.created'), 'identity.created');
      stream.stop();
      await assert.rejects(h.client.invoke('identity.create', { displayName: 'Alice', userName: 'alice2' }), { code: 'IDENTITY_EXISTS' });
    });

    it('resumes from `since` with exactly the events missed', async () => {
      const first = collect(h.client);
      await first.waitFor((items) => items.length > 0, 'reset');
      const mark = first.items[0] as { epoch: string; seq: number };
      first.stop();
      await assert.rejects(h.client.invoke('im.send', { to: 'not a uri', text: 'x' }), { code: 'INVALID_URI' });
      // Two messages to a closed TCP port: each is added, then fails fast.
      const dead = `sip:nobody@127.0.0.1:${await freePort()};transport=tcp`;
      await h.client.invoke('im.send', { to: dead, text: 'one' });
      await h.client.invoke('im.send', { to: dead, text: 'two' });
      const resumed = collect(h.client, mark);
      await resumed.waitFor((items) => items.filter((i) => i.type === 'message.updated').length === 2, 'two message.updated');
      assert.ok(resumed.items.every((i) => i.type !== 'reset'));
      const seqs = resumed.items.map((i) => i.seq);
      assert.deepEqual(seqs, seqs.map((_, k) => mark.seq + 1 + k), 'no gaps, no repeats');
      const failed = resumed.items.filter((i) => i.type === 'message.updated').map((i) => i.data as { status: string; reason?: string });
      assert.ok(failed.every((m) => m.status === 'failed' && /Could not reach/.test(m.reason ?? '')));
      resumed.stop();
    });

    it('sends a reset to a client resuming from another epoch', async () => {
      const stream = collect(h.client, { epoch: 'an-earlier-run', seq: 3 });
      await stream.waitFor((items) => items.length > 0, 'reset');
      assert.equal(stream.items[0].type, 'reset');
      stream.stop();
    });

    it('keeps history and conversations', async () => {
      const conversations = await h.client.invoke('im.conversations', {});
      assert.equal(conversations.length, 1);
      assert.equal(conversations[0].messageCount, 2);
      const history = await h.client.invoke('im.history', { peer: conversations[0].peer });
      assert.deepEqual(history.map((m) => m.text), ['one', 'two']);
      await assert.rejects(h.client.invoke('im.history', { peer: conversations[0].peer, limit: 0 }), { code: 'INVALID_ARGUMENT' });
    });

    it('reports the overlay: a ring of one with this user registered', async () => {
      const deadline = Date.now() + 5_000;
      let status = await h.client.invoke('overlay.status', {});
      while (status.registration.state !== 'registered' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = await h.client.invoke('overlay.status', {});
      }
      assert.equal(status.overlay, 'peerdial');
      assert.equal(status.role, 'member');
      assert.match(status.nodeId, /^[0-9a-f]{40}$/);
      assert.equal(status.aor, 'sip:alice@peerdial');
      assert.equal(status.registration.state, 'registered');
      assert.deepEqual(status.records.map((r) => r.type).sort(), ['binding', 'name']);
      assert.ok(status.records.every((r) => r.primary && r.user === 'alice'));
    });

    it('looks an AOR up, and says which inputs are not AORs of this overlay', async () => {
      const found = await h.client.invoke('overlay.lookup', { aor: 'alice' });
      assert.equal(found.aor, 'sip:alice@peerdial');
      // Reached over TLS, pinning the certificate alice's node presents.
      assert.deepEqual(found.contacts, [`sip:alice@127.0.0.1:${h.engine.sip.tlsPort};transport=tls;pdcert=${h.engine.sip.certificate}`]);
      assert.equal(found.hops, 0);
      assert.deepEqual((await h.client.invoke('overlay.lookup', { aor: 'sip:nobody@peerdial' })).contacts, []);
      await assert.rejects(h.client.invoke('overlay.lookup', { aor: 'sip:bob@elsewhere' }), { code: 'INVALID_URI' });
      await assert.rejects(h.client.invoke('overlay.addBootstrap', { address: 'not an address' }), { code: 'INVALID_ARGUMENT' });
    });

    it('reports node status with the SIP contact', async () => {
      const status = await h.client.invoke('node.status', {});
      assert.equal(status.sipContact, `sip:alice@127.0.0.1:${h.engine.sip.port}`);
      assert.deepEqual(status.transports, ['udp', 'tcp', 'tls']);
      assert.equal(status.sipTlsPort, h.engine.sip.tlsPort);
      assert.match(status.tls.certificate ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.ok(status.services.some((s) => s.name === 'sip' && s.state === 'running'));
    });
  });
}

describe('adapter gatekeeping', () => {
  it('IPC refuses a sender that is not our window', async () => {
    const { engine, dataDir } = await startEngine();
    const ipcMain = new FakeIpcMain();
    const unbind = bindIpcControl({ ipcMain, endpoint: engine.api, isTrustedSender: (e) => e.senderFrame?.url === APP_URL });
    const evil = bridgeClient(bridgeOver(fakeIpcRenderer(ipcMain, new FakeWebContents(), 'https://evil.example/')));
    await assert.rejects(evil.invoke('identity.get', {}), { code: 'UNAUTHORIZED' });
    unbind();
    await engine.stop();
    await removeDir(dataDir);
  });

  it('WebSocket refuses a missing or wrong token, and a foreign Origin', async () => {
    const { engine, dataDir } = await startEngine();
    const base = engine.uiUrl!.replace(/^http:\/\/([^/]+)\/\?token=.*$/, 'ws://$1/control');
    const token = new URL(engine.uiUrl!).searchParams.get('token')!;
    const outcome = (url: string, headers: Record<string, string> = {}) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
        ws.on('error', (e) => resolve(`error ${e.message}`));
      });
    assert.equal(await outcome(base), '401');
    assert.equal(await outcome(`${base}?token=wrong`), '401');
    assert.equal(await outcome(`${base}?token=${token}`, { Origin: 'https://evil.example' }), '403');
    assert.equal(await outcome(`${base}?token=${token}`, { Origin: new URL(engine.uiUrl!).origin }), 'open');
    await engine.stop();
    await removeDir(dataDir);
  });
});
