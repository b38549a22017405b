// The plain TCP listener (the TURN server's) on real loopback sockets: one address holds at most
// its share of connections, another address still gets in, and a closed connection frees its place.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { listenTcp, type TcpConnection } from '../../../native/transport/tcp-stream.js';

function connect(port: number, from: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}
const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('TCP listener limits', () => {
  it('closes connections past an address\'s share as they come, and lets another address in', async () => {
    const accepted: TcpConnection[] = [];
    const waiting: Array<() => void> = [];
    const refused: string[] = [];
    const listener = await listenTcp('127.0.0.1', 0, (c) => {
      accepted.push(c);
      waiting.shift()?.();
    }, () => undefined, { maxPerAddress: 3, onRefused: (address) => refused.push(address) });
    const clients: net.Socket[] = [];
    try {
      for (let i = 0; i < 6; i++) clients.push(await connect(listener.port, '127.0.0.2'));
      await Promise.all(clients.slice(3).map(closed));
      assert.deepEqual(refused, ['127.0.0.2', '127.0.0.2', '127.0.0.2']);
      const other = new Promise<void>((resolve) => waiting.push(resolve));
      clients.push(await connect(listener.port, '127.0.0.1'));
      await other;
      assert.equal(accepted.at(-1)!.remote.address, '127.0.0.1');
      // One of the three closes: its address has room for one more.
      const gone = new Promise<void>((resolve) => accepted[0].onClose(resolve));
      clients[0].destroy();
      await gone;
      const again = new Promise<void>((resolve) => waiting.push(resolve));
      clients.push(await connect(listener.port, '127.0.0.2'));
      await again;
      assert.equal(accepted.length, 5);
      assert.equal(refused.length, 3);
    } finally {
      for (const c of clients) c.destroy();
      for (const c of accepted) c.destroy();
      await listener.close();
    }
  });
});
