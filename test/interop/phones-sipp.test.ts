// Every member a SIP server for its overlay's domain, exercised by sipp: a phone's REGISTER with
// digest authentication; a MESSAGE and an INVITE for another user of the overlay sent to a
// member that is not that user's node (the member routes them by lookup); a stranger's request
// for another domain refused (no open relay); a request with Max-Forwards 0.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { requireSipp, runSipp } from '../peers/sipp.js';
import { describeCalls, watchCalls } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/** Sends one request from a fresh socket and resolves with the first final response's status line. */
async function finalStatus(port: number, request: (local: number) => string): Promise<string> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no final response')), 5_000);
      socket.on('message', (m) => {
        const line = m.toString('latin1').split('\r\n')[0];
        if (/^SIP\/2\.0 [2-6]\d\d/.test(line)) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      socket.send(request(socket.address().port), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

describe('members route for the overlay\'s domain (sipp)', () => {
  let carol: NodeProcess;
  let alice: NodeProcess;
  let bob: NodeProcess;
  let aliceApi: NodeControl;
  let bobApi: NodeControl;
  let carolApi: NodeControl;
  let bobCalls: Map<string, CallView>;

  before(async () => {
    requireSipp();
    // Carol's node is the member strangers talk to; bob's calls are answered at once.
    carol = await startNode({ user: 'carol', args: ['--refresh-seconds', '5'] });
    alice = await startNode({ user: 'alice', args: ['--bootstrap', `127.0.0.1:${carol.sipPort}`, '--refresh-seconds', '5'] });
    bob = await startNode({ user: 'bob', args: ['--bootstrap', `127.0.0.1:${carol.sipPort}`, '--refresh-seconds', '5', '--auto-answer'] });
    aliceApi = controlOf(alice);
    bobApi = controlOf(bob);
    carolApi = controlOf(carol);
    bobCalls = watchCalls(bobApi);
    await until('bob found from carol\'s node', async () => (await carolApi.invoke('overlay.lookup', { aor: 'bob' }).catch(() => undefined))?.contacts.length);
  });

  after(async () => {
    for (const api of [aliceApi, bobApi, carolApi]) api?.close();
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    await Promise.all([alice, bob, carol].filter(Boolean).map((n) => removeDir(n.dataDir)));
  });

  it('a phone registers with digest authentication (sipp answers the MD5 challenge)', async () => {
    const phone = await aliceApi.invoke('phones.add', { name: 'sipp' });
    const run = await runSipp({ scenario: 'register-auth.xml', remote: phone.registrar, service: 'alice', localPort: await freePort(), keys: { domain: 'peerdial' }, extraArgs: ['-au', phone.username, '-ap', phone.password] });
    assert.equal(run.successful, 1, run.output.slice(-2_000));
    const listed = (await aliceApi.invoke('phones.list', {})).find((p) => p.id === phone.phone.id);
    assert.equal(listed?.state, 'registered');
    assert.equal(listed?.bindings[0].userAgent, 'sipp');
  });

  it('the wrong password is refused with 403', async () => {
    const [phone] = await aliceApi.invoke('phones.list', {});
    const before = (await aliceApi.invoke('node.status', {})).routing.counters.authFailed;
    const run = await runSipp({ scenario: 'register-auth.xml', remote: `127.0.0.1:${alice.sipPort}`, service: 'alice', localPort: await freePort(), keys: { domain: 'peerdial' }, extraArgs: ['-au', phone.username, '-ap', 'wrong'] });
    assert.equal(run.successful, 0);
    assert.match(run.output, /403/);
    assert.equal((await aliceApi.invoke('node.status', {})).routing.counters.authFailed, before + 1);
  });

  it('a MESSAGE for sip:bob@peerdial sent to carol\'s node reaches bob', async () => {
    const text = 'routed by a member';
    const run = await runSipp({ scenario: 'message-uac-aor.xml', remote: `127.0.0.1:${carol.sipPort}`, service: 'bob', localPort: await freePort(), keys: { domain: 'peerdial', text } });
    assert.equal(run.successful, 1, run.output.slice(-2_000));
    const conversations = await bobApi.invoke('im.conversations', {});
    assert.ok(conversations.some((c) => c.lastMessage.text.trimEnd() === `${text} 1`), JSON.stringify(conversations));
    assert.ok((await carolApi.invoke('node.status', {})).routing.counters.proxied >= 1);
  });

  it('an INVITE for sip:bob@peerdial sent to carol\'s node rings bob, who answers; ACK and BYE reach him', async () => {
    const before = [...bobCalls.keys()];
    const run = await runSipp({ scenario: 'call-uac-aor.xml', remote: `127.0.0.1:${carol.sipPort}`, service: 'bob', localPort: await freePort(), keys: { domain: 'peerdial' } });
    assert.equal(run.successful, 1, run.output.slice(-2_000));
    const call = await until('bob\'s call ended by the BYE', async () => [...bobCalls.values()].find((c) => !before.includes(c.id) && c.state === 'ended'), 10_000, describeCalls(bobCalls));
    assert.ok(call.answeredAt, 'bob answered');
  });

  it('a stranger\'s MESSAGE for another domain is refused (403), and counted', async () => {
    const before = (await carolApi.invoke('node.status', {})).routing.counters.refusedPolicy;
    const run = await runSipp({ scenario: 'message-uac-refused.xml', remote: `127.0.0.1:${carol.sipPort}`, service: 'someone', localPort: await freePort(), keys: { domain: 'example.org', text: 'relay me' } });
    assert.equal(run.successful, 1, run.output.slice(-2_000));
    assert.equal((await carolApi.invoke('node.status', {})).routing.counters.refusedPolicy, before + 1);
  });

  it('one address sending faster than 100 requests a second gets 503 with Retry-After, and is counted', async () => {
    const before = (await carolApi.invoke('node.status', {})).routing.counters;
    const errors = path.join(os.tmpdir(), `peerdial-flood-${process.pid}.log`);
    const run = await runSipp({ scenario: 'message-uac-aor.xml', remote: `127.0.0.1:${carol.sipPort}`, service: 'bob', localPort: await freePort(), rate: 1_000, calls: 600, keys: { domain: 'peerdial', text: 'flood' }, extraArgs: ['-trace_err', '-error_file', errors] });
    const refusals = await readFile(errors, 'utf8').finally(() => rm(errors, { force: true }));
    assert.ok(run.failed > 0, 'some were refused');
    assert.match(refusals, /SIP\/2\.0 503 Service Unavailable \(too many requests from your address\)[^']*Retry-After: 2/i);
    const after = (await carolApi.invoke('node.status', {})).routing.counters;
    assert.ok(after.rateLimited > before.rateLimited, 'counted');
    // The burst (200) and the rate went on to bob: the limit slows a source, it does not stop it.
    assert.ok(after.proxied - before.proxied >= 200, `routed ${after.proxied - before.proxied}`);
    // After a breath, the same address is served again.
    await new Promise((r) => setTimeout(r, 1_500));
    const again = await runSipp({ scenario: 'message-uac-aor.xml', remote: `127.0.0.1:${carol.sipPort}`, service: 'bob', localPort: await freePort(), keys: { domain: 'peerdial', text: 'after the flood' } });
    assert.equal(again.successful, 1, again.output.slice(-1_500));
  });

  it('Max-Forwards 0 gets 483, a user nobody holds 404 or 480, a loop 482', async () => {
    const request = (uri: string, hops: number, extraVia = '') => (local: number) =>
      [
        `MESSAGE ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-${Math.random().toString(36).slice(2)};rport`,
        ...(extraVia ? [extraVia] : []),
        `Max-Forwards: ${hops}`,
        `From: <sip:stranger@127.0.0.1:${local}>;tag=1`,
        `To: <${uri}>`,
        `Call-ID: ${Math.random().toString(36).slice(2)}@test`,
        'CSeq: 1 MESSAGE',
        'Content-Type: text/plain',
        'Content-Length: 2',
        '',
        'hi',
      ].join('\r\n');
    assert.match(await finalStatus(carol.sipPort, request('sip:bob@peerdial', 0)), /^SIP\/2\.0 483/);
    assert.match(await finalStatus(carol.sipPort, request('sip:nobody-here@peerdial', 70)), /^SIP\/2\.0 (404|480)/);
    const ourVia = `Via: SIP/2.0/UDP 127.0.0.1:${carol.sipPort};branch=z9hG4bK-pdpx-looped`;
    assert.match(await finalStatus(carol.sipPort, request('sip:bob@peerdial', 70, ourVia)), /^SIP\/2\.0 482/);
  });
});
