// Floods from one source against an in-process engine on real loopback sockets (issue 21): idle
// TCP connections, MESSAGE, INVITE and SUBSCRIBE floods, and an oversize MESSAGE. The flooders
// send from other loopback addresses (Linux routes all of 127.0.0.0/8 to lo), so what they meet
// is the limits, while alice on 127.0.0.1 still reaches bob.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { ControlEvent, MessageView, StreamItem } from '../../native/control/api.js';
import { Engine } from '../../native/roots/node-engine.js';
import { CallEvents } from '../support/calls.js';
import { removeDir, tempDataDir } from '../support/node-process.js';

const dirs: string[] = [];
const engines: Engine[] = [];

async function start(userName: string): Promise<Engine> {
  const dataDir = await tempDataDir();
  dirs.push(dataDir);
  const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, mdns: false, multicastRegister: false });
  engines.push(engine);
  return engine;
}

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await Promise.all(dirs.map(removeDir));
});

afterEach(async () => {
  for (const engine of engines) {
    for (const call of await engine.api.invoke('call.list', {}).catch(() => [])) await engine.api.invoke('call.hangup', { id: call.id }).catch(() => undefined);
  }
});

/** A request as a hostile client writes it: valid SIP from `from`:`port` over `transport`. */
function sipRequest(method: string, uri: string, from: { address: string; port: number; transport: 'UDP' | 'TCP' }, body = '', contentType = 'text/plain', extra: string[] = []): Buffer {
  const head = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/${from.transport} ${from.address}:${from.port};branch=z9hG4bK-${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:mallory@${from.address}:${from.port}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${uri}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@${from.address}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:mallory@${from.address}:${from.port}>`,
    ...extra,
    ...(body ? [`Content-Type: ${contentType}`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return Buffer.from(head.join('\r\n') + '\r\n\r\n' + body);
}

/** A UDP flooder on `address`: sends, and keeps every response's status line and Retry-After. */
async function udpFlooder(address: string): Promise<{ port: number; send(bytes: Buffer, port: number): Promise<void>; responses: Array<{ status: number; retryAfter?: number; reason: string }>; first(status: number): Promise<void>; close(): void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  const responses: Array<{ status: number; retryAfter?: number; reason: string }> = [];
  const waiting: Array<{ status: number; resolve: () => void }> = [];
  socket.on('message', (bytes) => {
    const text = bytes.toString('latin1');
    const line = /^SIP\/2\.0 (\d{3}) (.*)\r\n/.exec(text);
    if (!line) return;
    const retry = /^Retry-After:\s*(\d+)/im.exec(text);
    const status = Number(line[1]);
    responses.push({ status, reason: line[2], ...(retry ? { retryAfter: Number(retry[1]) } : {}) });
    for (const w of waiting.filter((x) => x.status === status)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    port: socket.address().port,
    send: (bytes, port) => new Promise((resolve, reject) => socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    responses,
    // A status that never comes fails the test (and lets it close its socket) rather than hang it.
    first: (status) =>
      responses.some((r) => r.status === status)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ${status} came (${responses.length} responses)`)), 10_000);
            waiting.push({ status, resolve: () => (clearTimeout(timer), resolve()) });
          }),
    close: () => socket.close(),
  };
}

/** Resolves with the first event of `engine` for which `match` holds. */
function nextEvent(engine: Engine, match: (item: StreamItem) => boolean, timeoutMs = 10_000): Promise<ControlEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('event did not arrive'));
    }, timeoutMs);
    const stop = engine.api.subscribe({ epoch: engine.api.events.epoch, seq: engine.api.events.lastSeq }, (item) => {
      if (!match(item)) return;
      clearTimeout(timer);
      stop();
      resolve(item as ControlEvent);
    });
  });
}

/** alice sends bob a text; resolves with its final status at alice. */
async function aliceMessagesBob(alice: Engine, bob: Engine, text: string, transport: 'udp' | 'tcp' = 'udp'): Promise<string> {
  const to = `${bob.sipContact}${transport === 'tcp' ? ';transport=tcp' : ''}`;
  const heard = nextEvent(bob, (i) => i.type === 'message.added' && (i.data as MessageView).text === text);
  const sent = await alice.api.invoke('im.send', { to, text });
  const done = await nextEvent(alice, (i) => i.type === 'message.updated' && (i.data as MessageView).id === sent.id && (i.data as MessageView).status !== 'sending');
  await heard;
  return (done.data as MessageView).status;
}

const SDP = (address: string) => ['v=0', `o=- 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');

describe('floods from one source', () => {
  let alice: Engine;
  let bob: Engine;
  let bobUri: string;
  before(async () => {
    alice = await start('alice');
    bob = await start('bob');
    bobUri = `sip:bob@127.0.0.1:${bob.sip.port}`;
  });

  it('1,000 idle TCP connections from one address do not stop another user\'s TCP MESSAGE', async () => {
    const flood: net.Socket[] = [];
    try {
      for (let i = 0; i < 1_000; i += 100) {
        flood.push(
          ...(await Promise.all(
            Array.from(
              { length: 100 },
              () =>
                new Promise<net.Socket>((resolve, reject) => {
                  const s = net.connect({ host: '127.0.0.1', port: bob.sip.port, localAddress: '127.0.0.2' });
                  s.on('error', () => undefined);
                  s.once('connect', () => resolve(s));
                  s.once('error', reject);
                }),
            ),
          )),
        );
      }
      // Over 1,300 bytes: RFC 3261 18.1.1 sends it over TCP whatever the URI says.
      assert.equal(await aliceMessagesBob(alice, bob, 'through the flood '.repeat(100), 'tcp'), 'delivered');
      const limits = (await bob.api.invoke('node.status', {})).limits!;
      assert.equal(limits.tcpRefused, 936, 'all but the 64 one address may hold');
      assert.ok(limits.sources.some((s) => s.address === '127.0.0.2' && s.method === 'tcp-per-address' && s.count === 936));
    } finally {
      for (const s of flood) s.destroy();
    }
  });

  it('a MESSAGE flood gets 503 with Retry-After past its limit, stores only the sender\'s allowance, and alice still gets through', async () => {
    const mallory = await udpFlooder('127.0.0.66');
    try {
      const started = Date.now();
      for (let i = 0; i < 10_000; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => mallory.send(sipRequest('MESSAGE', bobUri, { address: '127.0.0.66', port: mallory.port, transport: 'UDP' }, `spam ${i + j}`), bob.sip.port)));
      }
      await mallory.first(503);
      assert.equal(await aliceMessagesBob(alice, bob, 'hello bob, in the middle of a flood'), 'delivered');
      const elapsedS = (Date.now() - started) / 1000;
      const refused = mallory.responses.filter((r) => r.status === 503);
      assert.ok(refused.every((r) => r.retryAfter !== undefined && r.retryAfter >= 1), 'every 503 says when to retry');
      assert.ok(refused.some((r) => /too many requests from your address/.test(r.reason)), 'the SIP layer refused');
      assert.ok(refused.some((r) => /too many messages from you/.test(r.reason)), 'the sender limit refused');
      const stored = (await bob.api.invoke('im.history', { peer: `sip:mallory@127.0.0.66:${mallory.port}` })).length;
      // The sender's allowance: a burst of 30, then 2 a second.
      assert.ok(stored >= 30 && stored <= 30 + Math.ceil(2 * elapsedS) + 1, `stored ${stored} of 10,000 in ${elapsedS.toFixed(1)} s`);
      const limits = (await bob.api.invoke('node.status', {})).limits!;
      assert.ok(limits.refused.message > 0 && limits.sendersLimited > 0, JSON.stringify(limits.refused));
      assert.ok(limits.sources.some((s) => s.address === '127.0.0.66' && s.method === 'message'));
    } finally {
      mallory.close();
    }
  });

  it('an INVITE flood gets 503 with Retry-After past its limit, and alice\'s call still rings and is answered', async () => {
    const mallory = await udpFlooder('127.0.0.67');
    const bobCalls = new CallEvents(bob);
    const aliceCalls = new CallEvents(alice);
    try {
      const before = (await bob.api.invoke('node.status', {})).limits!.refused.invite;
      for (let i = 0; i < 200; i++) {
        await mallory.send(sipRequest('INVITE', bobUri, { address: '127.0.0.67', port: mallory.port, transport: 'UDP' }, SDP('127.0.0.67'), 'application/sdp'), bob.sip.port);
      }
      await mallory.first(503);
      const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
      const ringing = await bobCalls.waitFor('alice ringing at bob', (v) => v.state === 'incoming' && v.peerName === 'alice');
      await bob.api.invoke('call.answer', { id: ringing.id });
      await aliceCalls.waitFor('the answer at alice', (v) => v.id === dialled.id && v.state === 'active');
      const refused = mallory.responses.filter((r) => r.status === 503);
      assert.ok(refused.length > 0 && refused.every((r) => r.retryAfter !== undefined));
      const after = (await bob.api.invoke('node.status', {})).limits!;
      // The burst of 50 rang; a few more refilled while the 200 went out; the rest were refused.
      assert.ok(after.refused.invite - before >= 100, `refused ${after.refused.invite - before} of 200`);
      await alice.api.invoke('call.hangup', { id: dialled.id });
      await bobCalls.waitFor('alice\'s call ended at bob', (v) => v.id === ringing.id && v.state === 'ended');
    } finally {
      bobCalls.close();
      aliceCalls.close();
      mallory.close();
    }
  });

  it('a SUBSCRIBE flood gets 503 with Retry-After past its limit, and alice\'s message still gets through', async () => {
    const mallory = await udpFlooder('127.0.0.68');
    try {
      const before = (await bob.api.invoke('node.status', {})).limits!.refused.subscribe;
      for (let i = 0; i < 300; i++) {
        await mallory.send(sipRequest('SUBSCRIBE', bobUri, { address: '127.0.0.68', port: mallory.port, transport: 'UDP' }, '', '', ['Event: presence', 'Accept: application/pidf+xml', 'Expires: 60']), bob.sip.port);
      }
      await mallory.first(503);
      assert.equal(await aliceMessagesBob(alice, bob, 'after the subscribe flood'), 'delivered');
      const refused = mallory.responses.filter((r) => r.status === 503);
      assert.ok(refused.every((r) => r.retryAfter !== undefined));
      const after = (await bob.api.invoke('node.status', {})).limits!;
      assert.ok(after.refused.subscribe - before >= 150, `refused ${after.refused.subscribe - before} of 300`);
    } finally {
      mallory.close();
    }
  });

  it('an overlay request flood gets 503 with Retry-After past its limit, and alice\'s message still gets through', async () => {
    const mallory = await udpFlooder('127.0.0.74');
    try {
      const before = (await bob.api.invoke('node.status', {})).limits!.refused.overlay;
      const ping = () =>
        sipRequest('REGISTER', `sip:127.0.0.1:${bob.sip.port}`, { address: '127.0.0.74', port: mallory.port, transport: 'UDP' }, '{}', 'application/peerdial-overlay+json', ['P2P-Op: ping', 'P2P-Overlay: peerdial']);
      for (let i = 0; i < 2_000; i += 100) await Promise.all(Array.from({ length: 100 }, () => mallory.send(ping(), bob.sip.port)));
      await mallory.first(503);
      assert.equal(await aliceMessagesBob(alice, bob, 'after the overlay flood'), 'delivered');
      assert.ok(mallory.responses.some((r) => r.status === 200), 'the burst was served');
      assert.ok(mallory.responses.filter((r) => r.status === 503).every((r) => r.retryAfter !== undefined));
      const after = (await bob.api.invoke('node.status', {})).limits!;
      // A burst of 1,000 and 200 a second: most of the rest refused.
      assert.ok(after.refused.overlay - before >= 500, `refused ${after.refused.overlay - before} of 2,000`);
    } finally {
      mallory.close();
    }
  });

  it('a MESSAGE body over the limit is answered 413 and nothing is stored', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: bob.sip.port, localAddress: '127.0.0.69' });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      });
      const port = socket.localPort!;
      const answers: string[] = [];
      let buffered = '';
      const next = () =>
        new Promise<string>((resolve) => {
          const check = () => {
            const end = buffered.indexOf('\r\n\r\n');
            if (end < 0) return false;
            answers.push(buffered.slice(0, end));
            buffered = buffered.slice(end + 4);
            resolve(answers.at(-1)!);
            return true;
          };
          if (!check()) socket.once('data', function more(chunk: Buffer) {
            buffered += chunk.toString('latin1');
            if (!check()) socket.once('data', more);
          });
        });
      const from = { address: '127.0.0.69', port, transport: 'TCP' as const };
      socket.write(sipRequest('MESSAGE', bobUri, from, 'x'.repeat(20 * 1024)));
      assert.match(await next(), /^SIP\/2\.0 413 /);
      socket.write(sipRequest('MESSAGE', bobUri, from, 'A'.repeat(50 * 1024), 'application/vnd.peerdial.sealed'));
      assert.match(await next(), /^SIP\/2\.0 413 /);
      // A text at the limit is taken.
      socket.write(sipRequest('MESSAGE', bobUri, from, 'y'.repeat(16 * 1024)));
      assert.match(await next(), /^SIP\/2\.0 200 /);
      const history = await bob.api.invoke('im.history', { peer: `sip:mallory@127.0.0.69:${port}` });
      assert.deepEqual(history.map((m) => m.text.length), [16 * 1024]);
      const limits = (await bob.api.invoke('node.status', {})).limits!;
      assert.equal(limits.tooLarge, 2);
      assert.ok(limits.sources.some((s) => s.address === '127.0.0.69' && s.method === 'message-size' && s.count === 2));
    } finally {
      socket.destroy();
    }
  });
});
