// sipp, a third-party SIP tool, against a headless node started as a user starts it (the built
// CLI): OPTIONS and MESSAGE into the node, MESSAGE out of the node to sipp acting as the far
// end, over UDP and TCP. The node is watched through its control API over WebSocket.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { MessageView } from '../../native/control/api.js';
import { requireSipp, runSipp, startSipp } from '../peers/sipp.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { controlOf, type NodeControl } from '../support/control.js';

const TRANSPORTS = ['udp', 'tcp'] as const;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until sipp listens. Over TCP that is observable (a connection is accepted); over UDP a
 * short pause suffices, and a datagram sent too early is resent by Timer E after 500 ms anyway.
 */
async function sippListening(port: number, transport: 'udp' | 'tcp'): Promise<void> {
  if (transport === 'udp') {
    await sleep(200);
    return;
  }
  for (let waited = 0; waited < 5_000; waited += 50) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = net.connect({ host: '127.0.0.1', port }, () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`sipp did not listen on TCP port ${port}`);
}

/** ws://127.0.0.1:PORT/control?token=T from the node's `ui:` URL. */

describe('sipp against a headless node', () => {
  let node: NodeProcess;
  let control: NodeControl;

  before(async () => {
    // Fails (not skips) without sipp: the CI script installs it.
    requireSipp();
    node = await startNode({ user: 'bob' });
    control = controlOf(node);
  });
  after(async () => {
    control?.close();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
  });

  async function waitForOutcome(peer: string, id: number): Promise<MessageView> {
    for (let waited = 0; waited < 20_000; waited += 50) {
      const found = (await control.invoke('im.history', { peer, limit: 50 })).find((m) => m.id === id);
      if (found && found.status !== 'sending') return found;
      await sleep(50);
    }
    throw new Error(`message ${id} to ${peer} got no outcome`);
  }

  for (const transport of TRANSPORTS) {
    it(`answers sipp's OPTIONS with 200 and an Allow header listing MESSAGE over ${transport.toUpperCase()}`, async () => {
      const run = await runSipp({ scenario: 'options-uac.xml', remote: `127.0.0.1:${node.sipPort}`, transport, service: 'bob' });
      assert.equal(run.code, 0, run.output.slice(-2_000));
      assert.equal(run.successful, 1);
      assert.equal(run.failed, 0);
    });

    it(`accepts sipp's MESSAGE with 200 and stores it over ${transport.toUpperCase()}`, async () => {
      const localPort = await freePort();
      const text = `hello from sipp over ${transport}`;
      const run = await runSipp({ scenario: 'message-uac.xml', remote: `127.0.0.1:${node.sipPort}`, transport, service: 'bob', localPort, keys: { text } });
      assert.equal(run.code, 0, run.output.slice(-2_000));
      assert.equal(run.successful, 1);
      const history = await control.invoke('im.history', { peer: `sip:sipp@127.0.0.1:${localPort}`, limit: 10 });
      // The scenario's body ends with its last line ("TEXT CALLNUMBER"), line break included or not.
      const stored = history.find((m) => m.text.trimEnd() === `${text} 1`);
      assert.ok(stored, `stored message, history: ${JSON.stringify(history)}`);
      assert.equal(stored.direction, 'in');
      assert.equal(stored.status, 'received');
    });

    it(`sees its MESSAGE to a sipp UAS answered 200 and marks it delivered over ${transport.toUpperCase()}`, async () => {
      const port = await freePort();
      const uas = startSipp({ scenario: 'message-uas-200.xml', transport, localPort: port });
      await sippListening(port, transport);
      const to = `sip:alice@127.0.0.1:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
      const sent = await control.invoke('im.send', { to, text: `to sipp over ${transport}` });
      const outcome = await waitForOutcome(to, sent.id);
      const run = await uas.done;
      assert.equal(run.code, 0, run.output.slice(-2_000));
      assert.equal(outcome.status, 'delivered');
    });

    for (const [status, reason] of [
      ['486', 'Busy Here'],
      ['404', 'Not Found'],
    ] as const) {
      it(`marks its MESSAGE failed with the reason when sipp answers ${status} over ${transport.toUpperCase()}`, async () => {
        const port = await freePort();
        const uas = startSipp({ scenario: `message-uas-${status}.xml`, transport, localPort: port });
        await sippListening(port, transport);
        const to = `sip:alice@127.0.0.1:${port}${transport === 'tcp' ? ';transport=tcp' : ''}`;
        const sent = await control.invoke('im.send', { to, text: `sipp will answer ${status}` });
        const outcome = await waitForOutcome(to, sent.id);
        await uas.done;
        assert.equal(outcome.status, 'failed');
        assert.equal(outcome.reason, `${status} ${reason}`);
      });
    }
  }
});
