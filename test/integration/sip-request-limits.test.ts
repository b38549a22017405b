// The SIP stack's per-source limits on real loopback UDP (issue 21): what is refused (503 with
// Retry-After, no transaction kept), and what never is: a retransmission of a request in
// progress, a CANCEL of an INVITE in progress, an ACK, and a request inside a dialog while the
// same source's MESSAGE flood is being refused.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../native/log.js';
import { SipStack, type IncomingRequest } from '../../native/services/sip/index.js';
import { realTimers } from '../../native/transport/clock.js';

interface Peer {
  port: number;
  send(text: string): Promise<void>;
  /** The next response whose CSeq method and status line match. */
  response(match: RegExp): Promise<string>;
  all: string[];
  close(): void;
}

async function peer(): Promise<Peer> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.80', () => resolve()));
  const all: string[] = [];
  const waiting: Array<{ match: RegExp; resolve: (text: string) => void }> = [];
  socket.on('message', (bytes) => {
    const text = bytes.toString();
    all.push(text);
    const w = waiting.find((x) => x.match.test(text));
    if (w) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(text);
    }
  });
  return {
    port: socket.address().port,
    all,
    send: (text) => new Promise((resolve, reject) => socket.send(text, stackPort, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    response: (match) => {
      const seen = all.find((t) => match.test(t));
      if (seen) return Promise.resolve(seen);
      // A response that never comes fails the test (and lets it close its socket) rather than hang it.
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response matching ${match} (got ${all.map((t) => t.split('\r\n')[0]).join(', ')})`)), 5_000);
        waiting.push({ match, resolve: (text) => (clearTimeout(timer), resolve(text)) });
      });
    },
    close: () => socket.close(),
  };
}

let stackPort = 0;

function request(p: Peer, method: string, options: { branch?: string; callId?: string; toTag?: string; cseqMethod?: string } = {}): string {
  const branch = options.branch ?? `z9hG4bK-${randomBytes(6).toString('hex')}`;
  return [
    `${method} sip:bob@127.0.0.1:${stackPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.80:${p.port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:mallory@127.0.0.80:${p.port}>;tag=m1`,
    `To: <sip:bob@127.0.0.1:${stackPort}>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    `Call-ID: ${options.callId ?? randomBytes(6).toString('hex')}@127.0.0.80`,
    `CSeq: 1 ${options.cseqMethod ?? method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe('the SIP stack\'s request limits', { timeout: 20_000 }, () => {
  let stack: SipStack;
  const held: IncomingRequest[] = [];
  before(async () => {
    stack = new SipStack({
      bind: '127.0.0.1',
      port: 0,
      advertisedHost: '127.0.0.1',
      timers: realTimers,
      log: createLogger('test', 'silent'),
      requestLimits: { message: { perSecond: 1, burst: 1 }, invite: { perSecond: 1, burst: 1 }, dialog: { perSecond: 1, burst: 1 }, other: { perSecond: 1, burst: 1 } },
    });
    await stack.start();
    stackPort = stack.port;
    // MESSAGE and INVITE are held unanswered (a user deciding), so their transactions stay open.
    stack.handle('MESSAGE', (incoming) => void held.push(incoming));
    stack.handle('INVITE', (incoming) => void held.push(incoming));
    stack.handle('BYE', (incoming) => incoming.respond(481));
  });
  after(async () => {
    for (const incoming of held) incoming.respond(480);
    await stack.stop();
  });

  it('refuses a new request past the limit with 503 and Retry-After, keeping no transaction for it', async () => {
    const p = await peer();
    try {
      await p.send(request(p, 'MESSAGE'));
      await p.send(request(p, 'MESSAGE', { callId: 'refused' }));
      const refused = await p.response(/^SIP\/2\.0 503 [^\r]*\r\n(?:.*\r\n)*Call-ID: refused@/);
      assert.match(refused, /^Retry-After: 1\r$/m);
      assert.equal(stack.transactionCounts.servers, 1, 'only the first MESSAGE holds a transaction');
      assert.equal(stack.limits.refused.message, 1);
    } finally {
      p.close();
    }
  });

  it('never refuses a retransmission of a request in progress, nor an ACK, nor a CANCEL of an INVITE it holds', async () => {
    const p = await peer();
    try {
      const invite = request(p, 'INVITE', { branch: 'z9hG4bK-inv1', callId: 'inv1' });
      await p.send(invite);
      await p.response(/^SIP\/2\.0 100 [^\r]*\r\n(?:.*\r\n)*Call-ID: inv1@/);
      // An OPTIONS empties this source's bucket for other requests (where an unmatched CANCEL goes).
      await p.send(request(p, 'OPTIONS'));
      await p.response(/^SIP\/2\.0 200 [^\r]*\r\n(?:.*\r\n)*CSeq: 1 OPTIONS/);
      const before = stack.limits.refused;
      // The same INVITE again (a retransmission: the 100 was lost), the INVITE bucket empty.
      await p.send(invite);
      for (let i = 0; i < 5; i++) await p.send(request(p, 'ACK', { cseqMethod: 'ACK' }));
      await p.send(request(p, 'CANCEL', { branch: 'z9hG4bK-inv1', callId: 'inv1' }));
      await p.response(/^SIP\/2\.0 487 /);
      const after = stack.limits.refused;
      assert.equal(after.invite, before.invite);
      assert.equal(after.other, before.other, 'the CANCEL was not counted');
      assert.ok(!p.all.some((t) => /^SIP\/2\.0 503 [^\r]*\r\n(?:.*\r\n)*CSeq: 1 (INVITE|CANCEL)/.test(t)));
    } finally {
      p.close();
    }
  });

  it('lets the same source\'s in-dialog request through while its MESSAGE flood is refused', async () => {
    const p = await peer();
    try {
      for (let i = 0; i < 20; i++) await p.send(request(p, 'MESSAGE'));
      await p.response(/^SIP\/2\.0 503 [^\r]*\r\n(?:.*\r\n)*CSeq: 1 MESSAGE/);
      await p.send(request(p, 'BYE', { toTag: 'dialog1', callId: 'bye1' }));
      const answer = await p.response(/CSeq: 1 BYE/);
      assert.match(answer, /^SIP\/2\.0 481 /, 'the BYE reached its handler');
    } finally {
      p.close();
    }
  });
});
