// RFC 3261 17.1.2.2: over UDP a non-INVITE client transaction resends its request when Timer E
// fires (T1 = 500 ms first). A relay on loopback between two engines loses the first copy of a
// MESSAGE; the retransmission must still deliver it, once.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../native/roots/node-engine.js';
import { removeDir, tempDataDir } from '../support/node-process.js';

/** Forwards datagrams between one client and a server, dropping the first `dropFirst` from the client. */
class LossyRelay {
  readonly fromClient: Array<{ at: number; bytes: Buffer }> = [];
  private client?: dgram.RemoteInfo;
  private constructor(private readonly socket: dgram.Socket, private readonly serverPort: number, private dropFirst: number) {
    socket.on('message', (bytes, from) => {
      if (from.port === serverPort) {
        if (this.client) socket.send(bytes, this.client.port, this.client.address);
        return;
      }
      this.client = from;
      this.fromClient.push({ at: Date.now(), bytes });
      if (this.dropFirst > 0) {
        this.dropFirst--;
        return;
      }
      socket.send(bytes, serverPort, '127.0.0.1');
    });
  }
  static async open(serverPort: number, dropFirst: number): Promise<LossyRelay> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new LossyRelay(socket, serverPort, dropFirst);
  }
  get port(): number {
    return this.socket.address().port;
  }
  close(): void {
    this.socket.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('UDP retransmission', () => {
  let alice: Engine;
  let bob: Engine;
  let relay: LossyRelay;
  const dirs: string[] = [];
  before(async () => {
    dirs.push(await tempDataDir(), await tempDataDir());
    alice = await Engine.start({ dataDir: dirs[0], bind: '127.0.0.1', sipPort: 0, user: { userName: 'alice' } });
    bob = await Engine.start({ dataDir: dirs[1], bind: '127.0.0.1', sipPort: 0, user: { userName: 'bob' } });
    relay = await LossyRelay.open(bob.sip.port, 1);
  });
  after(async () => {
    relay?.close();
    await alice?.stop();
    await bob?.stop();
    for (const dir of dirs) await removeDir(dir);
  });

  it('delivers a MESSAGE whose first UDP copy is lost, by resending it after Timer E', async () => {
    const to = `sip:bob@127.0.0.1:${relay.port}`;
    const sent = await alice.im.send(to, 'the first copy of this is lost');
    let outcome = sent;
    for (let waited = 0; outcome.status === 'sending' && waited < 10_000; waited += 20) {
      await sleep(20);
      outcome = (await alice.im.history(to, 5)).find((m) => m.id === sent.id)!;
    }
    assert.equal(outcome.status, 'delivered', outcome.reason);

    assert.ok(relay.fromClient.length >= 2, 'the request was sent again');
    const [lost, resent] = relay.fromClient;
    assert.deepEqual(resent.bytes, lost.bytes, 'a retransmission is the same request, byte for byte');
    const gap = resent.at - lost.at;
    assert.ok(gap >= 400 && gap < 1_500, `resent after ${gap} ms; Timer E starts at T1 = 500 ms`);

    const atBob = (await bob.im.history(alice.sipContact!, 10)).filter((m) => m.text === 'the first copy of this is lost');
    assert.equal(atBob.length, 1, 'stored once');
  });
});
