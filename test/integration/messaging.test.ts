// Two engines on loopback talk SIP MESSAGE to each other over real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ControlEvent, MessageView, StreamItem } from '../../native/control/api.js';
import { Engine } from '../../native/roots/node-engine.js';
import { freePort, removeDir, tempDataDir } from '../support/node-process.js';

async function engine(userName: string, dataDir?: string, sipPort?: number): Promise<{ engine: Engine; dataDir: string }> {
  const dir = dataDir ?? (await tempDataDir());
  const e = await Engine.start({ dataDir: dir, bind: '127.0.0.1', sipPort: sipPort ?? (await freePort()), user: { userName } });
  return { engine: e, dataDir: dir };
}

/** Resolves with the first event for which `match` holds. */
function nextEvent(e: Engine, match: (item: StreamItem) => boolean, timeoutMs = 5_000): Promise<ControlEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('event did not arrive'));
    }, timeoutMs);
    const stop = e.api.subscribe({ epoch: e.api.events.epoch, seq: e.api.events.lastSeq }, (item) => {
      if (!match(item)) return;
      clearTimeout(timer);
      stop();
      resolve(item as ControlEvent);
    });
  });
}

const delivered = (id: number) => (i: StreamItem) => i.type === 'message.updated' && (i.data as MessageView).id === id && (i.data as MessageView).status !== 'sending';

describe('two engines on loopback', () => {
  let alice: { engine: Engine; dataDir: string };
  let bob: { engine: Engine; dataDir: string };
  before(async () => {
    alice = await engine('alice');
    bob = await engine('bob');
  });
  after(async () => {
    await alice.engine.stop();
    await bob.engine.stop();
    await removeDir(alice.dataDir);
    await removeDir(bob.dataDir);
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`exchange messages in both directions over ${transport.toUpperCase()}`, async () => {
      const suffix = transport === 'tcp' ? ';transport=tcp' : '';
      const toBob = `${bob.engine.sipContact}${suffix}`;
      const arrivesAtBob = nextEvent(bob.engine, (i) => i.type === 'message.added' && (i.data as MessageView).text === `hello bob over ${transport} ✓`);
      const sent = await alice.engine.api.invoke('im.send', { to: toBob, text: `hello bob over ${transport} ✓` });
      assert.equal(sent.status, 'sending');
      const outcome = (await nextEvent(alice.engine, delivered(sent.id))).data as MessageView;
      assert.equal(outcome.status, 'delivered');
      const received = (await arrivesAtBob).data as MessageView;
      assert.equal(received.direction, 'in');
      assert.equal(received.peer, alice.engine.sipContact);

      const toAlice = `${received.peer}${suffix}`;
      const reply = await bob.engine.api.invoke('im.send', { to: toAlice, text: `hi alice (${transport})` });
      assert.equal(((await nextEvent(bob.engine, delivered(reply.id))).data as MessageView).status, 'delivered');
      const aliceHistory = await alice.engine.api.invoke('im.history', { peer: bob.engine.sipContact! });
      assert.deepEqual(aliceHistory.slice(-2).map((m) => [m.direction, m.text]), [
        ['out', `hello bob over ${transport} ✓`],
        ['in', `hi alice (${transport})`],
      ]);
    });
  }

  it('a long message moves to TCP by itself and arrives whole', async () => {
    const text = 'long message '.repeat(400); // ~5 KB: too big for a UDP datagram under RFC 3261 18.1.1
    const sent = await alice.engine.api.invoke('im.send', { to: bob.engine.sipContact!, text });
    assert.equal(((await nextEvent(alice.engine, delivered(sent.id))).data as MessageView).status, 'delivered');
    const history = await bob.engine.api.invoke('im.history', { peer: alice.engine.sipContact! });
    assert.equal(history.at(-1)!.text, text);
  });

  it('a message to an unknown user fails with the reason', async () => {
    const sent = await alice.engine.api.invoke('im.send', { to: bob.engine.sipContact!.replace('bob@', 'carol@'), text: 'anyone?' });
    const outcome = (await nextEvent(alice.engine, delivered(sent.id))).data as MessageView;
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.reason, '404 Not Found');
  });

  it('a message to a port nobody listens on (TCP) fails with the reason', async () => {
    const sent = await alice.engine.api.invoke('im.send', { to: `sip:bob@127.0.0.1:${await freePort()};transport=tcp`, text: 'hello?' });
    const outcome = (await nextEvent(alice.engine, delivered(sent.id))).data as MessageView;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.reason!, /Could not reach the recipient: .*ECONNREFUSED/);
  });

  it('answers OPTIONS with 200 and the methods it allows', async () => {
    const { default: dgram } = await import('node:dgram');
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const port = socket.address().port;
    const answer = new Promise<string>((resolve) => socket.once('message', (m) => resolve(m.toString())));
    socket.send(
      `OPTIONS sip:bob@127.0.0.1:${bob.engine.sip.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKopt1;rport\r\nMax-Forwards: 70\r\n` +
        `To: <sip:bob@127.0.0.1>\r\nFrom: <sip:probe@127.0.0.1>;tag=p1\r\nCall-ID: opt1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
      bob.engine.sip.port,
      '127.0.0.1',
    );
    const text = await answer;
    socket.close();
    assert.match(text, /^SIP\/2\.0 200 OK\r\n/);
    assert.match(text, /\r\nAllow: OPTIONS, REGISTER, MESSAGE, INVITE, BYE, REFER, NOTIFY, SUBSCRIBE, ACK, CANCEL\r\n/i);
  });

  it('history survives a restart of the engine', async () => {
    const before = await bob.engine.api.invoke('im.history', { peer: alice.engine.sipContact! });
    assert.ok(before.length >= 4);
    const port = bob.engine.sip.port;
    await bob.engine.stop();
    bob = await engine('bob', bob.dataDir, port);
    const afterRestart = await bob.engine.api.invoke('im.history', { peer: alice.engine.sipContact! });
    assert.deepEqual(afterRestart, before);
    assert.equal((await bob.engine.api.invoke('identity.get', {}))!.userName, 'bob');
    // And it still receives.
    const sent = await alice.engine.api.invoke('im.send', { to: bob.engine.sipContact!, text: 'after restart' });
    assert.equal(((await nextEvent(alice.engine, delivered(sent.id))).data as MessageView).status, 'delivered');
  });
});
