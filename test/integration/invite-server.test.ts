// The SIP stack's side of an incoming INVITE, seen from a raw UDP peer, with the stack's timers
// on a fake clock: 100 at once, the 2xx retransmitted until its ACK (RFC 3261 13.3.1.4),
// CANCEL answered 200 and the INVITE 487 (9.2), a non-2xx retransmitted until its ACK (17.2.1).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../native/log.js';
import { SipStack, type IncomingRequest } from '../../native/services/sip/sip-stack.js';
import { parseSipMessage, type SipRequest } from '../../native/wire/sip/message.js';
import { FakeClock } from '../support/fake-clock.js';
import { freePort } from '../support/node-process.js';
import { until } from '../support/poll.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('INVITE server side of the SIP stack', () => {
  const clock = new FakeClock();
  let stack: SipStack;
  let peer: dgram.Socket;
  const heard: Array<{ status?: number; method?: string; cseq: string; text: string }> = [];
  let onInvite: (incoming: IncomingRequest) => void = () => undefined;
  let n = 0;

  before(async () => {
    stack = new SipStack({ bind: '127.0.0.1', port: await freePort(), advertisedHost: '127.0.0.1', timers: clock, log: createLogger('test', 'error') });
    await stack.start();
    stack.handle('INVITE', (incoming) => onInvite(incoming));
    peer = dgram.createSocket('udp4');
    peer.on('message', (bytes) => {
      const parsed = parseSipMessage(bytes);
      if (parsed.kind === 'response') heard.push({ status: parsed.message.status, cseq: parsed.message.headers.cseq.method, text: bytes.toString() });
      if (parsed.kind === 'request') heard.push({ method: parsed.message.method, cseq: parsed.message.headers.cseq.method, text: bytes.toString() });
    });
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', () => resolve()));
  });
  after(async () => {
    peer.close();
    await stack.stop();
  });

  function send(method: string, callId: string, branch: string, extra = ''): void {
    const { port } = peer.address();
    const text =
      `${method} sip:bob@127.0.0.1:${stack.port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:${port}>;tag=a1\r\nTo: <sip:bob@127.0.0.1>${extra}\r\n` +
      `Call-ID: ${callId}\r\nCSeq: 1 ${method}\r\nContact: <sip:alice@127.0.0.1:${port}>\r\nContent-Length: 0\r\n\r\n`;
    peer.send(text, stack.port, '127.0.0.1');
  }

  function fresh(): { callId: string; branch: string } {
    heard.length = 0;
    n++;
    return { callId: `call-${n}`, branch: `z9hG4bK-test-${n}` };
  }

  it('sends 100 Trying at once, then retransmits the 2xx at T1, 2T1, 4T1 until the ACK', async () => {
    const { callId, branch } = fresh();
    let acked: SipRequest | undefined | null = null;
    onInvite = (incoming) => {
      incoming.onAck = (ack) => (acked = ack);
      incoming.respond(200, { headers: { contact: [{ uri: `sip:bob@127.0.0.1:${stack.port}`, params: {} }] } });
    };
    send('INVITE', callId, branch);
    await until('100 and 200', async () => heard.filter((h) => h.status).length >= 2);
    assert.deepEqual(heard.map((h) => h.status), [100, 200]);
    clock.advance(500);
    clock.advance(1000);
    clock.advance(2000);
    await until('three retransmissions', async () => heard.filter((h) => h.status === 200).length === 4);
    send('ACK', callId, 'z9hG4bK-ack-' + n, ';tag=' + /To: [^\r]*tag=([^;\r]+)/.exec(heard[1].text)![1]);
    await until('the ACK reaches the dialog', async () => acked !== null);
    assert.equal((acked as SipRequest | null | undefined)?.method, 'ACK');
    clock.advance(30_000);
    await sleep(100);
    assert.equal(heard.filter((h) => h.status === 200).length, 4, 'no 2xx after the ACK');
  });

  it('reports a 2xx never ACKed after 64*T1', async () => {
    const { callId, branch } = fresh();
    let acked: SipRequest | undefined | null = null;
    onInvite = (incoming) => {
      incoming.onAck = (ack) => (acked = ack);
      incoming.respond(200);
    };
    send('INVITE', callId, branch);
    await until('the 200', async () => heard.some((h) => h.status === 200));
    clock.advance(32_000);
    assert.equal(acked, undefined);
  });

  it('CANCEL: 200 for the CANCEL, 487 for the INVITE, and the callee is told', async () => {
    const { callId, branch } = fresh();
    let cancelled = false;
    onInvite = (incoming) => {
      incoming.respond(180);
      incoming.onCancel = () => (cancelled = true);
    };
    send('INVITE', callId, branch);
    await until('180', async () => heard.some((h) => h.status === 180));
    send('CANCEL', callId, branch);
    await until('200 for CANCEL and 487 for INVITE', async () => heard.some((h) => h.status === 487) && heard.some((h) => h.status === 200 && h.cseq === 'CANCEL'));
    assert.equal(cancelled, true);
  });

  it('a CANCEL for nothing gets 481', async () => {
    const { callId } = fresh();
    send('CANCEL', callId, 'z9hG4bK-nothing');
    await until('481', async () => heard.some((h) => h.status === 481));
  });

  it('a 486 is retransmitted (Timer G) until the ACK in the same transaction stops it', async () => {
    const { callId, branch } = fresh();
    onInvite = (incoming) => incoming.respond(486);
    send('INVITE', callId, branch);
    await until('486', async () => heard.some((h) => h.status === 486));
    clock.advance(500);
    await until('a retransmitted 486', async () => heard.filter((h) => h.status === 486).length === 2);
    send('ACK', callId, branch, ';tag=' + /To: [^\r]*tag=([^;\r]+)/.exec(heard.find((h) => h.status === 486)!.text)![1]);
    await sleep(100);
    clock.advance(10_000);
    await sleep(100);
    assert.equal(heard.filter((h) => h.status === 486).length, 2);
  });
});
