// Stream connection slots on real loopback sockets (issue 21: 1,000 idle connections from one
// address took every slot, and a real request was then reset): a cap per source address, the
// connection idle longest closed for a newcomer when all are taken, and silent connections closed.
// Linux routes all of 127.0.0.0/8 to lo: 127.0.0.2 and up are "other addresses" here.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { SipSockets, type SipSocketsOptions } from '../../../native/transport/sip-sockets.js';
import { makeSelfSignedCertificate } from '../../../native/wire/crypto/certificate.js';

const options = (n: number) => Buffer.from(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: ${n}\r\nContent-Length: 0\r\n\r\n`);

let open: SipSockets | undefined;
const clients: net.Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await open?.close();
  open = undefined;
});

async function listener(extra: Partial<SipSocketsOptions>): Promise<{ sockets: SipSockets; heard: string[]; nextMessage(): Promise<string> }> {
  const heard: string[] = [];
  const waiting: Array<(text: string) => void> = [];
  const sockets = await SipSockets.open({
    bind: '127.0.0.1',
    port: 0,
    onMessage: (bytes) => {
      heard.push(bytes.toString());
      waiting.shift()?.(bytes.toString());
    },
    ...extra,
  });
  open = sockets;
  return { sockets, heard, nextMessage: () => new Promise((resolve) => waiting.push(resolve)) };
}

/** A connection from `from`, resolved once established. */
function connect(port: number, from: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    clients.push(socket);
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('stream connection slots', () => {
  it('refuses an address its connections past its share; another address still gets a request through', async () => {
    const { sockets, nextMessage } = await listener({ maxConnectionsPerAddress: 4 });
    const flood = await Promise.all(Array.from({ length: 10 }, () => connect(sockets.port, '127.0.0.2')));
    const legit = await connect(sockets.port, '127.0.0.1');
    const heard = nextMessage();
    legit.write(options(1));
    assert.match(await heard, /Call-ID: 1/);
    // Accepted in order: the first four hold slots, the other six were closed.
    await Promise.all(flood.slice(4).map(closed));
    assert.equal(sockets.stats.tcpRefused, 6);
    assert.ok(flood.slice(0, 4).every((s) => !s.destroyed));
    assert.deepEqual(sockets.connectionSlots, { connections: 5, addresses: 2 });
  });

  it('closes the connection idle longest (one that never spoke first) when every slot is taken', async () => {
    const { sockets, nextMessage } = await listener({ maxConnections: 6, maxConnectionsPerAddress: 100 });
    const talker = await connect(sockets.port, '127.0.0.3');
    const spoke = nextMessage();
    talker.write(options(0));
    await spoke;
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push(await connect(sockets.port, '127.0.0.2'));
    const newcomer = await connect(sockets.port, '127.0.0.1');
    const heard = nextMessage();
    newcomer.write(options(2));
    assert.match(await heard, /Call-ID: 2/);
    await closed(idle[0]);
    assert.equal(sockets.stats.tcpEvicted, 1);
    assert.ok(!talker.destroyed, 'the connection that carried a message stays');
    assert.ok(idle.slice(1).every((s) => !s.destroyed));
  });

  it('closes a connection that sends no whole message in time, and keeps one that did', async () => {
    const { sockets, nextMessage } = await listener({ firstMessageMs: 300 });
    const talker = await connect(sockets.port, '127.0.0.1');
    const spoke = nextMessage();
    talker.write(options(3));
    await spoke;
    const silent = await connect(sockets.port, '127.0.0.2');
    silent.write('OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n'); // half a message: a slow loris
    await closed(silent);
    assert.equal(sockets.stats.tcpIdleClosed, 1);
    assert.ok(!talker.destroyed);
  });

  it('takes 1,000 idle connections from one address without losing a request from another', async () => {
    const { sockets, nextMessage } = await listener({});
    const flood: net.Socket[] = [];
    for (let i = 0; i < 1_000; i += 100) flood.push(...(await Promise.all(Array.from({ length: 100 }, () => connect(sockets.port, '127.0.0.2')))));
    const legit = await connect(sockets.port, '127.0.0.1');
    const heard = nextMessage();
    legit.write(options(4));
    assert.match(await heard, /Call-ID: 4/);
    await Promise.all(flood.slice(64).map(closed));
    assert.equal(sockets.stats.tcpRefused, 936, 'all but the default 64 an address may hold');
  });

  it('bounds an address\'s connections to the TLS port while they are still in their handshake', async () => {
    const { sockets } = await listener({ maxConnectionsPerAddress: 4, tls: await makeSelfSignedCertificate('test') });
    const flood = await Promise.all(Array.from({ length: 10 }, () => connect(sockets.tlsPort!, '127.0.0.2')));
    await Promise.all(flood.slice(4).map(closed));
    assert.equal(sockets.stats.tcpRefused, 6);
    assert.ok(flood.slice(0, 4).every((s) => !s.destroyed));
  });
});
