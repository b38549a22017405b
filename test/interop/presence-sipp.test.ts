// sipp, the third-party SIP tester, subscribing to a node user's presence (RFC 6665, PIDF RFC
// 3863): a stranger gets 403; an accepted buddy (whose key the test holds and signs with) gets
// 200 and signed PIDF NOTIFYs, on subscribing and on every change, and a final NOTIFY when it
// unsubscribes. sipp's scenario checks the node's SIP and the document's content.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../native/roots/node-engine.js';
import { BUDDY_CONTENT_TYPE, encodeBuddyMessage } from '../../native/wire/presence/buddy-message.js';
import { signPayload, subscribeSigningText } from '../../native/wire/presence/signature.js';
import { requireSipp, runSipp, startSipp } from '../peers/sipp.js';
import { freePort, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const OVERLAY = 'peerdial';
const SIPP_AOR = `sip:sipp@${OVERLAY}`;
const BOB_AOR = `sip:bob@${OVERLAY}`;

describe('presence with sipp as the subscriber', () => {
  let bob: Engine;
  let dataDir: string;
  const sippKey = generateKeyPairSync('ed25519');
  const sippPrivate = sippKey.privateKey.export({ format: 'der', type: 'pkcs8' });
  const sippPublic = sippKey.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64url');

  before(async () => {
    requireSipp();
    dataDir = await tempDataDir();
    bob = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName: 'bob' }, overlay: OVERLAY });
    await until('bob registered in his overlay', async () => (await bob.overlay.lookupAor('bob').catch(() => undefined))?.contacts.length);
  });

  after(async () => {
    await bob?.stop();
    if (dataDir) await removeDir(dataDir);
  });

  it('a stranger\'s SUBSCRIBE gets 403', async () => {
    const run = await runSipp({ scenario: 'subscribe-stranger.xml', remote: `127.0.0.1:${bob.sip.port}`, service: 'bob', keys: { overlay: OVERLAY } });
    assert.equal(run.successful, 1, run.output);
    assert.equal(run.failed, 0);
  });

  it('an accepted buddy gets signed PIDF NOTIFYs: at once, on every change, and a final one when it unsubscribes', async () => {
    // sipp asks to be bob's buddy with a signed request (sent raw: sipp cannot sign), and bob accepts.
    const request = encodeBuddyMessage({ v: 1, type: 'request', from: SIPP_AOR, to: BOB_AOR, displayName: 'SIPp', publicKey: sippPublic, at: Date.now() });
    await sendMessage(bob.sip.port, request, signPayload('peerdial-buddy-v1', Buffer.from(request), sippPrivate));
    await until('the request at bob', async () => (await bob.api.invoke('buddy.list', {})).some((b) => b.aor === SIPP_AOR && b.state === 'incoming'));
    await bob.api.invoke('buddy.accept', { aor: SIPP_AOR });
    await bob.api.invoke('presence.set', { status: 'busy', note: 'at the dentist' });

    const localPort = await freePort();
    const callId = `sipp-${randomBytes(6).toString('hex')}`;
    const contact = `sip:sipp@127.0.0.1:${localPort}`;
    const sign = (cseq: number, expires: number) =>
      signPayload('peerdial-subscribe-v1', subscribeSigningText({ from: SIPP_AOR, to: BOB_AOR, callId, cseq, expires, contact }), sippPrivate);
    const sipp = startSipp({
      scenario: 'subscribe-buddy.xml',
      remote: `127.0.0.1:${bob.sip.port}`,
      localPort,
      service: 'bob',
      keys: { overlay: OVERLAY, sig: sign(1, 60), sig2: sign(2, 0) },
      // A Call-ID without placeholders: the one the signatures cover.
      extraArgs: ['-cid_str', callId],
    });
    await until('sipp watching bob', async () => bob.presence.watchers === 1 || undefined);
    await bob.api.invoke('presence.set', { status: 'available', note: 'back at my desk' });
    const run = await sipp.done;
    assert.equal(run.successful, 1, run.output);
    assert.equal(run.failed, 0);
    assert.equal(bob.presence.watchers, 0, 'the unsubscription ended the subscription');
  });
});

/** A buddy MESSAGE over UDP from a socket of its own; resolves with the final status. */
async function sendMessage(port: number, body: string, signature: string): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const text = [
    `MESSAGE sip:bob@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    'Max-Forwards: 70',
    `From: <${SIPP_AOR}>;tag=s1`,
    `To: <${BOB_AOR}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}`,
    'CSeq: 1 MESSAGE',
    `Content-Type: ${BUDDY_CONTENT_TYPE}`,
    `Peerdial-Signature: ${signature}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to the buddy request')), 5_000);
      socket.on('message', (data) => {
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(data.toString())?.[1]);
        if (status >= 200) {
          clearTimeout(timer);
          resolve(status);
        }
      });
      socket.send(text, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}
