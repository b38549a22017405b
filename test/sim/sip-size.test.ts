// The simulator counts an overlay request's bytes from sip-size.ts: the same length as what a
// real SipStack sends for that operation through the overlay transport.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../native/log.js';
import { realTimers } from '../../native/transport/clock.js';
import { sipOverlayTransport } from '../../native/services/overlay/overlay-transport.js';
import { SipStack } from '../../native/services/sip/index.js';
import { OVERLAY_OPS, type NodeRef } from '../../native/wire/overlay/messages.js';
import { serializeSipMessage } from '../../native/wire/sip/message.js';
import { overlayRequest } from './sip-size.js';

describe('what the simulator counts for an overlay request', () => {
  let stack: SipStack;
  let peer: dgram.Socket;
  const heard: Buffer[] = [];
  before(async () => {
    stack = new SipStack({ bind: '127.0.0.1', port: 0, advertisedHost: '127.0.0.1', timers: realTimers, log: createLogger('test', 'error') });
    await stack.start();
    peer = dgram.createSocket('udp4');
    peer.on('message', (bytes) => heard.push(bytes));
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  });
  after(async () => {
    peer?.close();
    await stack?.stop();
  });

  it('is the size of the REGISTER the stack sends, compact, for every operation', async () => {
    const self: NodeRef = { id: 'a'.repeat(40), host: '127.0.0.1', port: stack.port };
    const target: NodeRef = { id: 'b'.repeat(40), host: '127.0.0.1', port: peer.address().port };
    const transport = sipOverlayTransport(stack, () => self, 'peerdial');
    for (const op of OVERLAY_OPS) {
      heard.length = 0;
      const body = op === 'find-closest' || op === 'lookup' || op === 'fetch' || op === 'get' ? { key: 'c'.repeat(40) } : {};
      // Nobody answers: the request goes out once (then is retransmitted); the first copy is enough.
      await transport.request(target, op, body as never, 60).catch(() => undefined);
      assert.ok(heard.length > 0, `${op} was sent`);
      const sent = heard[0];
      assert.match(sent.toString('latin1'), /\r\nv: SIP\/2\.0\/UDP /, 'compact header names');
      assert.doesNotMatch(sent.toString('latin1'), /User-Agent/i);
      const modelled = serializeSipMessage(overlayRequest(op, JSON.stringify(body), self, target), { compact: true });
      assert.equal(sent.length, modelled.length, `${op}: sent ${sent.length} bytes, the simulator counts ${modelled.length}\n${sent.toString('latin1')}\n---\n${modelled.toString('latin1')}`);
    }
  });
});
