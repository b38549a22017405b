// Peerdial's TURN client against a real coturn on loopback, over UDP and over TCP: it allocates
// with long-term credentials, permits a peer (a plain UDP socket), and data goes both ways through
// the relayed address, as ChannelData for the bound peer and as Send/Data indications for another
// port of the same peer IP; close() frees the allocation. A wrong password fails with 401, and a
// coturn whose nonces go stale after two seconds gets answered with the new one.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TurnClient } from '../../native/proto/nat/turn-client.js';
import { TurnStreamReader } from '../../native/proto/nat/turn-stream.js';
import { now, realTimers } from '../../native/transport/clock.js';
import type { TransportAddress } from '../../native/wire/stun/message.js';
import { startLoopbackCoturn, type LoopbackCoturn } from '../support/coturn.js';
import { until } from '../support/poll.js';

const HOST = '127.0.0.1';
const USER = 'alice';
const PASSWORD = 'secret';
const REALM = 'turn.peerdial.test';

type Coturn = LoopbackCoturn;

/** Session lines (created, refreshed, deleted) in its log are what the close test waits for. */
const startCoturn = (extraConfig: string[] = []) => startLoopbackCoturn({ host: HOST, realm: REALM, user: USER, password: PASSWORD, verbose: true, extraConfig });

/** What onData delivered, to await one at a time. */
class Inbox {
  private readonly queued: { data: string; from: TransportAddress }[] = [];
  private waiting?: (item: { data: string; from: TransportAddress }) => void;
  readonly push = (data: Buffer, from: TransportAddress) => {
    const item = { data: data.toString(), from };
    if (this.waiting) this.waiting(item);
    else this.queued.push(item);
    this.waiting = undefined;
  };
  next(): Promise<{ data: string; from: TransportAddress }> {
    const item = this.queued.shift();
    return item ? Promise.resolve(item) : new Promise((resolve) => (this.waiting = resolve));
  }
}

/** One connection to the server, UDP or TCP; every message from the server goes to the current client. */
interface Link {
  local: TransportAddress;
  send(bytes: Buffer): void;
  current?: TurnClient;
  /** TCP: the connection is gone (coturn resets it). */
  ended?: Promise<void>;
  close(): Promise<void>;
}

async function udpLink(server: TransportAddress): Promise<Link> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const link: Link = {
    local: { address: HOST, port: socket.address().port },
    send: (bytes) => socket.send(bytes, server.port, server.address),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (message, from) => {
    if (from.address === server.address && from.port === server.port) link.current?.receive(message);
  });
  return link;
}

async function tcpLink(server: TransportAddress): Promise<Link> {
  const socket = net.connect(server.port, server.address);
  await once(socket, 'connect');
  const reader = new TurnStreamReader();
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const link: Link = {
    local: { address: socket.localAddress!, port: socket.localPort! },
    send: (bytes) => socket.write(bytes),
    ended,
    close: async () => {
      socket.destroy();
      await ended;
    },
  };
  socket.on('data', (chunk) => {
    for (const message of reader.push(chunk)) link.current?.receive(message);
    if (reader.error) socket.destroy(new Error(reader.error));
  });
  socket.on('error', () => {});
  return link;
}

function turnClient(link: Link, server: TransportAddress, transport: 'udp' | 'tcp', inbox: Inbox, password = PASSWORD): TurnClient {
  const client = new TurnClient({
    server,
    transport,
    username: USER,
    password,
    timers: realTimers,
    now,
    send: (bytes) => link.send(bytes),
    onData: inbox.push,
    onFailed: (reason) => assert.fail(`the allocation was lost: ${reason}`),
    rtoMs: 200,
    tcpTimeoutMs: 10_000,
  });
  link.current = client;
  return client;
}

async function peerSocket(): Promise<{ socket: dgram.Socket; address: TransportAddress }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  return { socket, address: { address: HOST, port: socket.address().port } };
}

async function atPeer(socket: dgram.Socket): Promise<{ data: string; from: TransportAddress }> {
  const [message, from] = (await once(socket, 'message')) as [Buffer, dgram.RemoteInfo];
  return { data: message.toString(), from: { address: from.address, port: from.port } };
}

describe('TURN client interop with coturn', () => {
  let coturn: Coturn;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    coturn = await startCoturn();
  });
  after(async () => {
    try {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    } finally {
      await coturn?.stop();
    }
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`allocates over ${transport}, relays both ways by channel and by indication, and close frees the allocation`, async () => {
      const link = transport === 'udp' ? await udpLink(coturn.server) : await until('coturn accepting TCP', () => tcpLink(coturn.server), 10_000);
      cleanups.push(() => link.close());
      const inbox = new Inbox();
      const client = turnClient(link, coturn.server, transport, inbox);
      const allocation = await client.allocate();
      assert.ok(allocation.ok, `${JSON.stringify(allocation)}\n${await coturn.log()}`);
      assert.equal(allocation.relayed.address, HOST);
      assert.deepEqual(allocation.mapped, link.local);
      assert.ok(allocation.lifetimeS > 0);
      assert.equal(client.counters.challenges, 1, 'coturn challenged the first Allocate');

      const peer = await peerSocket();
      const otherPort = await peerSocket();
      cleanups.push(() => void peer.socket.close(), () => void otherPort.socket.close());
      assert.equal(await client.permit(peer.address), true);

      // The bound peer: ChannelData both ways (odd length: over TCP it travels padded).
      let arrival = atPeer(peer.socket);
      client.sendTo(peer.address, Buffer.from('hello by channel'));
      assert.deepEqual(await arrival, { data: 'hello by channel', from: allocation.relayed });
      peer.socket.send('answer by channel', allocation.relayed.port, allocation.relayed.address);
      assert.deepEqual(await inbox.next(), { data: 'answer by channel', from: peer.address });
      assert.equal(client.counters.channelDataSent, 1);
      assert.equal(client.counters.channelDataReceived, 1);

      // Another port of the same IP: the permission covers it (RFC 8656 9), no channel does.
      arrival = atPeer(otherPort.socket);
      client.sendTo(otherPort.address, Buffer.from('hello by indication'));
      assert.deepEqual(await arrival, { data: 'hello by indication', from: allocation.relayed });
      otherPort.socket.send('answer by indication', allocation.relayed.port, allocation.relayed.address);
      assert.deepEqual(await inbox.next(), { data: 'answer by indication', from: otherPort.address });
      assert.equal(client.counters.sendIndications, 1);
      assert.equal(client.counters.dataIndications, 1);
      assert.equal(client.counters.forged + client.counters.malformed, 0);

      await client.close();
      assert.equal(client.state, 'closed');
      // coturn deletes a session whose lifetime went to 0 on its next one-second tick, and says so.
      const sessionClosed = new RegExp(`closed \\(2nd stage\\).*remote ${link.local.address}:${link.local.port}, reason: allocation timeout`);
      await until('coturn deleting the allocation', async () => sessionClosed.test(await coturn.log()), 10_000, () => 'coturn log lacks the session close');
      if (link.ended) {
        // Over TCP the allocation is the connection's: coturn resets it once it deleted it.
        await link.ended;
        return;
      }
      // Freed: coturn answers an Allocate on a 5-tuple that still has one with 437 Allocation Mismatch.
      const again = turnClient(link, coturn.server, transport, new Inbox());
      const second = await again.allocate();
      assert.ok(second.ok, `a new allocation on the same ${transport} 5-tuple: ${JSON.stringify(second)}`);
      await again.close();
    });
  }

  it('fails with 401 when the password is wrong', async () => {
    const link = await udpLink(coturn.server);
    cleanups.push(() => link.close());
    const client = turnClient(link, coturn.server, 'udp', new Inbox(), 'not the password');
    const outcome = await client.allocate();
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.code, 401, JSON.stringify(outcome));
    assert.equal(client.state, 'failed');
  });
});

describe('TURN client interop with coturn: nonces that go stale', () => {
  let coturn: Coturn;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    coturn = await startCoturn(['stale-nonce=2']);
  });
  after(async () => {
    try {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    } finally {
      await coturn?.stop();
    }
  });

  it('answers 438 Stale Nonce with the new nonce and carries on', async () => {
    const link = await udpLink(coturn.server);
    cleanups.push(() => link.close());
    const inbox = new Inbox();
    const client = turnClient(link, coturn.server, 'udp', inbox);
    const allocation = await client.allocate();
    assert.ok(allocation.ok, JSON.stringify(allocation));
    // Each new peer IP costs a CreatePermission; past two seconds coturn calls our nonce stale.
    let host = 2;
    await until(
      'coturn rejecting a stale nonce',
      async () => {
        assert.equal(await client.permit({ address: `127.0.0.${host++}`, port: 9 }), true);
        return client.counters.staleNonces > 0;
      },
      15_000,
      () => `counters: ${JSON.stringify(client.counters)}`,
      250,
    );
    const peer = await peerSocket();
    cleanups.push(() => void peer.socket.close());
    assert.equal(await client.permit(peer.address), true);
    const arrival = atPeer(peer.socket);
    client.sendTo(peer.address, Buffer.from('after a new nonce'));
    assert.deepEqual(await arrival, { data: 'after a new nonce', from: allocation.relayed });
    assert.equal(client.counters.forged, 0);
    await client.close();
  });
});
