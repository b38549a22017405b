// The flood limit flags of `peerdial node` (the built CLI in its own process): bad values are
// refused with a sentence, and good ones reach the node's SIP sockets.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { controlOf } from '../support/control.js';
import { assertOneLineError } from '../support/cli-assertions.js';
import { removeDir, runCli, startNode, tempDataDir } from '../support/node-process.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map(removeDir)));
const dataDir = async () => {
  const d = await tempDataDir();
  dirs.push(d);
  return d;
};

describe('peerdial node: flood limit flags', () => {
  it('refuses values it cannot read, saying what would do', async () => {
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--sip-method-limits', 'flood=5']), /--sip-method-limits: "flood=5" is not CLASS=RATE\[\/BURST\].*such as invite=20\/50/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--tcp-per-address', '0']), /--tcp-per-address must be a whole number from 1/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--tcp-idle-seconds', 'long']), /--tcp-idle-seconds must be a whole number/);
    assertOneLineError(await runCli(['node', '--data-dir', await dataDir(), '--message-sender-limit', 'fast']), /--message-sender-limit must be RATE or RATE\/BURST/);
  });

  it('applies --sip-method-limits and --tcp-per-address to the node', async () => {
    const node = await startNode({ user: 'lee', args: ['--no-mdns', '--no-multicast-register', '--sip-method-limits', 'message=1/1', '--tcp-per-address', '2'] });
    const control = controlOf(node);
    const socket = dgram.createSocket('udp4');
    const clients: net.Socket[] = [];
    try {
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.71', () => resolve()));
      const statuses: number[] = [];
      const three = new Promise<void>((resolve) =>
        socket.on('message', (bytes) => {
          statuses.push(Number(/^SIP\/2\.0 (\d{3})/.exec(bytes.toString())?.[1]));
          if (statuses.length === 3) resolve();
        }),
      );
      const port = socket.address().port;
      for (let i = 0; i < 3; i++) {
        const request = [`MESSAGE sip:lee@127.0.0.1:${node.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.71:${port};branch=z9hG4bK-cli-${i};rport`, 'Max-Forwards: 70', `From: <sip:x@127.0.0.71:${port}>;tag=c${i}`, `To: <sip:lee@127.0.0.1:${node.sipPort}>`, `Call-ID: cli-${i}@127.0.0.71`, 'CSeq: 1 MESSAGE', 'Content-Type: text/plain', 'Content-Length: 2', '', 'hi'].join('\r\n');
        await new Promise<void>((resolve, reject) => socket.send(request, node.sipPort, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
      }
      await three;
      assert.deepEqual(statuses.sort(), [200, 503, 503]);

      for (let i = 0; i < 3; i++) {
        clients.push(
          await new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: '127.0.0.1', port: node.sipPort, localAddress: '127.0.0.72' });
            s.on('error', () => undefined);
            s.once('connect', () => resolve(s));
            s.once('error', reject);
          }),
        );
      }
      await new Promise<void>((resolve) => (clients[2].destroyed ? resolve() : clients[2].once('close', () => resolve())));
      const limits = (await control.invoke('node.status', {})).limits!;
      assert.equal(limits.refused.message, 2);
      assert.equal(limits.tcpRefused, 1);
    } finally {
      socket.close();
      for (const c of clients) c.destroy();
      control.close();
      await node.stop();
      await removeDir(node.dataDir);
    }
  });
});
