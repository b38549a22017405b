// A member's flows for its clients: REGISTER gives a Path with the flow token; a request to the
// flow URI is retargeted and forwarded over the flow with our Via (the same branch for a
// retransmission and a CANCEL); the answer goes back to the sender; a dead flow gets 430.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientFlows } from '../../../native/services/nat/client-flows.js';
import type { IncomingRequest, SipStack } from '../../../native/services/sip/index.js';
import type { Remote } from '../../../native/transport/sip-sockets.js';
import { parseSipMessage, type SipRequest, type SipResponse } from '../../../native/wire/sip/message.js';
import { createLogger } from '../../../native/log.js';

const CLIENT: Remote = { protocol: 'udp', address: '203.0.113.5', port: 61000 };
const SENDER: Remote = { protocol: 'udp', address: '198.51.100.20', port: 5060 };

function setup(options: { max?: number; now?: () => number } = {}) {
  const sent: Array<{ text: string; to: Remote }> = [];
  const stack = {
    host: '198.51.100.10',
    port: 5060,
    isOwnAddress: (host: string, port: number | undefined) => host === '198.51.100.10' && (port ?? 5060) === 5060,
    sendRaw: async (bytes: Buffer, to: Remote) => void sent.push({ text: bytes.toString('latin1'), to }),
  } as unknown as SipStack;
  const flows = new ClientFlows({ stack, log: createLogger('test', 'error'), accepting: () => ({ ok: true }), maxClients: options.max, now: options.now });
  return { flows, sent };
}

function request(text: string): SipRequest {
  const parsed = parseSipMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  assert.equal(parsed.kind, 'request');
  return (parsed as { message: SipRequest }).message;
}

function registerFrom(flows: ClientFlows): { status: number; path?: string; reason?: string } {
  const req = request(`REGISTER sip:198.51.100.10:5060 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKreg;rport
To: <sip:carol@198.51.100.10>
From: <sip:carol@198.51.100.10>;tag=1
Call-ID: reg1
CSeq: 1 REGISTER
Contact: <sip:carol@192.168.1.2:5060>
Expires: 300
Supported: outbound, path
Content-Length: 0

`);
  let answer: { status: number; path?: string; reason?: string } = { status: 0 };
  const incoming = {
    request: req,
    remote: CLIENT,
    toTag: 't',
    respond: (status: number, opts: { reason?: string; headers?: Record<string, unknown> } = {}) => (answer = { status, reason: opts.reason, path: opts.headers?.path as string | undefined }),
    discard: () => undefined,
    relay: () => undefined,
  } as IncomingRequest;
  flows.onRegister(incoming);
  return answer;
}

const message = (uri: string, branch = 'z9hG4bKsender1', method = 'MESSAGE') =>
  request(`${method} ${uri} SIP/2.0
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=${branch};rport=5060;received=198.51.100.20
Max-Forwards: 70
To: <sip:carol@peerdial>
From: <sip:bob@peerdial>;tag=b
Call-ID: m1
CSeq: 1 ${method}
Content-Length: 0

`);

describe('client flows (member side)', () => {
  it('forwards a request for a flow to the client, retargeted, and its answer back to the sender', () => {
    const { flows, sent } = setup();
    const answer = registerFrom(flows);
    assert.equal(answer.status, 200);
    const token = /<sip:(pdflow-[^@]+)@198\.51\.100\.10:5060;lr;ob>/.exec(answer.path ?? '')?.[1];
    assert.ok(token, answer.path);
    assert.equal(flows.request(message(`sip:${token}@198.51.100.10:5060;ob`), SENDER), true);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].to, CLIENT, 'over the flow: to where the REGISTER came from');
    assert.match(sent[0].text, /^MESSAGE sip:carol@192\.168\.1\.2:5060 SIP\/2\.0/, 'retargeted to the registered contact');
    assert.match(sent[0].text, /Max-Forwards: 69/);
    const forwarded = parseSipMessage(Buffer.from(sent[0].text)) as { message: SipRequest };
    const vias = forwarded.message.headers.via;
    assert.equal(vias.length, 2);
    assert.equal(vias[0].host, '198.51.100.10');
    // A retransmission gets the same branch.
    flows.request(message(`sip:${token}@198.51.100.10:5060;ob`), SENDER);
    const again = parseSipMessage(Buffer.from(sent[1].text)) as { message: SipRequest };
    assert.equal(again.message.headers.via[0].params.branch, vias[0].params.branch);
    // The client's 200 comes back to us and goes on to the sender.
    const ok = parseSipMessage(Buffer.from(sent[0].text.replace(/^MESSAGE \S+ SIP\/2\.0/, 'SIP/2.0 200 OK').replace(/\r\nMax-Forwards: 69/, ''))) as { message: SipResponse };
    assert.equal(flows.response(ok.message, CLIENT), true);
    assert.deepEqual(sent[2].to, { protocol: 'udp', address: '198.51.100.20', port: 5060 });
    assert.match(sent[2].text, /^SIP\/2\.0 200 OK/);
    assert.equal((parseSipMessage(Buffer.from(sent[2].text)) as { message: SipResponse }).message.headers.via.length, 1);
  });

  it('leaves alone what is not for one of its flows', () => {
    const { flows } = setup();
    assert.equal(flows.request(message('sip:carol@198.51.100.10:5060'), SENDER), false);
    assert.equal(flows.request(message('sip:pdflow-x@198.51.100.99:5060'), SENDER), false, 'another host');
  });

  it('answers 430 Flow Failed once the flow has gone quiet, and 503 when it carries its most', () => {
    let now = 0;
    const { flows, sent } = setup({ max: 1, now: () => now });
    const token = /<sip:(pdflow-[^@]+)@/.exec(registerFrom(flows).path ?? '')![1];
    now += 91_000;
    assert.equal(flows.request(message(`sip:${token}@198.51.100.10:5060;ob`), SENDER), true);
    assert.match(sent[0].text, /^SIP\/2\.0 430 Flow Failed/);
    assert.deepEqual(sent[0].to, SENDER);
    const { flows: full } = setup({ max: 0 });
    const refused = registerFrom(full);
    assert.equal(refused.status, 503);
    assert.match(refused.reason ?? '', /its most; attach to another/);
  });
});
