// Messages between Peerdial users are sealed and signed end to end, and a MESSAGE that merely
// says it is from a Peerdial user is not taken: the issue's own finding was a MESSAGE sent
// straight to a user's contact with `From: <sip:bob@peerdial>` that landed in the conversation
// with bob. Here a raw SIP peer tries that, and a sealed body cut out of one request and pasted
// into another, and a body sealed by someone else's key; a phone's plain message still arrives,
// in its own conversation, marked as not encrypted.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { MessageView } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { EngineHarness } from '../support/engines.js';
import { SEALED_MESSAGE_CONTENT_TYPE, sealMessage } from '../../native/wire/im/sealed-message.js';
import { parseSipMessage } from '../../native/wire/sip/message.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

/** One MESSAGE from a raw UDP socket; resolves with the final status. */
async function rawMessage(to: Engine, from: string, contentType: string, body: string, callId = `${randomBytes(8).toString('hex')}@raw`): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  try {
    const status = new Promise<number>((resolve) => {
      socket.on('message', (bytes) => {
        const parsed = parseSipMessage(bytes);
        if (parsed.kind === 'response' && parsed.message.status >= 200) resolve(parsed.message.status);
      });
    });
    const content = Buffer.from(body);
    socket.send(
      Buffer.concat([
        Buffer.from(
          `MESSAGE ${to.sipContact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport\r\nMax-Forwards: 70\r\n` +
            `From: <${from}>;tag=r1\r\nTo: <sip:ben@peerdial>\r\nCall-ID: ${callId}\r\nCSeq: 1 MESSAGE\r\n` +
            `Content-Type: ${contentType}\r\nContent-Length: ${content.length}\r\n\r\n`,
        ),
        content,
      ]),
      to.sip.port,
      '127.0.0.1',
    );
    return await status;
  } finally {
    socket.close();
  }
}

describe('messages end to end', () => {
  let ann: Engine;
  let ben: Engine;

  before(async () => {
    [ann, ben] = await engines.pair('ann', 'ben');
  });

  const conversationOf = (engine: Engine, peer: string) => engine.api.invoke('im.history', { peer, limit: 50 });

  it('a message between two users travels sealed, arrives marked encrypted, and the read receipt and typing come back sealed', async () => {
    const sent = await ann.api.invoke('im.send', { to: 'ben', text: 'the gate code is 4711' });
    const arrived = await until('the message at ben', async () => (await conversationOf(ben, 'ann')).find((m: MessageView) => m.text === 'the gate code is 4711'));
    assert.equal(arrived.encrypted, true);
    const delivered = await until('delivered at ann', async () => (await conversationOf(ann, 'ben')).find((m: MessageView) => m.id === sent.id && m.status !== 'sending'));
    assert.equal(delivered.encrypted, true);
    await ben.api.invoke('im.typing', { peer: 'ann', active: true });
    // ann is no buddy of ben's: her message waits in his Requests, and tells her nothing until he accepts.
    await ben.api.invoke('requests.accept', { peer: 'ann' });
    await ben.api.invoke('im.markRead', { peer: 'ann' });
    await until('the read receipt at ann', async () => (await conversationOf(ann, 'ben')).find((m: MessageView) => m.id === sent.id && m.status === 'read'));
    // The text one way; the typing notice and the read receipt the other: every one sealed and opened.
    const [annSeal, benSeal] = await until('both of ben\'s sealed messages at ann', async () => {
      const a = (await ann.api.invoke('node.status', {})).messageSecurity;
      const b = (await ben.api.invoke('node.status', {})).messageSecurity;
      return a.sealedReceived >= 2 ? [a, b] : undefined;
    });
    assert.equal(annSeal.sealedSent, 1);
    assert.equal(benSeal.sealedReceived, 1);
    assert.equal(benSeal.sealedSent, 2);
    assert.equal(annSeal.sealedReceived, 2);
  });

  it('refuses a plain MESSAGE that only says it is from ann, and it never shows in the conversation with her', async () => {
    const status = await rawMessage(ben, 'sip:ann@peerdial', 'text/plain;charset=UTF-8', 'send the money to account 666');
    assert.equal(status, 403);
    assert.equal((await ben.api.invoke('node.status', {})).messageSecurity.refusedUnsealed, 1);
    assert.ok(!(await conversationOf(ben, 'ann')).some((m: MessageView) => m.text.includes('666')));
  });

  it('refuses a sealed body moved into another request, or sealed by another key as if from ann', async () => {
    const identity = ann.identity.current!;
    const agreement = ben.identity.agreementKey!;
    const toKey = ben.identity.current!.publicKey;
    const callId = `${randomBytes(8).toString('hex')}@raw`;
    const sealed = sealMessage(
      { from: 'sip:ann@peerdial', to: 'sip:ben@peerdial', toKey, callId, at: Date.now(), type: 'text/plain', body: 'moved' },
      { publicKey: identity.publicKey, privateKey: ann.identity.signingKey! },
      agreement.publicKey,
    );
    assert.equal(await rawMessage(ben, 'sip:ann@peerdial', SEALED_MESSAGE_CONTENT_TYPE, sealed), 403, 'another Call-ID');
    const mallory = generateKeyPairSync('ed25519');
    const forged = sealMessage(
      { from: 'sip:ann@peerdial', to: 'sip:ben@peerdial', toKey, callId, at: Date.now(), type: 'text/plain', body: 'forged' },
      { publicKey: mallory.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url'), privateKey: mallory.privateKey },
      agreement.publicKey,
    );
    assert.equal(await rawMessage(ben, 'sip:ann@peerdial', SEALED_MESSAGE_CONTENT_TYPE, forged, callId), 403, 'sealed by mallory');
    assert.equal((await ben.api.invoke('node.status', {})).messageSecurity.refusedSealed, 2);
    // The genuine box in its own request is taken.
    assert.equal(await rawMessage(ben, 'sip:ann@peerdial', SEALED_MESSAGE_CONTENT_TYPE, sealed, callId), 200);
    const texts = (await conversationOf(ben, 'ann')).map((m: MessageView) => m.text);
    assert.ok(texts.includes('moved') && !texts.includes('forged'));
  });

  it('takes a phone\'s plain message into its own conversation, marked not encrypted', async () => {
    assert.equal(await rawMessage(ben, 'sip:deskphone@192.0.2.1', 'text/plain;charset=UTF-8', 'lunch at noon?'), 200);
    const [message] = await conversationOf(ben, 'sip:deskphone@192.0.2.1');
    assert.equal(message.text, 'lunch at noon?');
    assert.equal(message.encrypted, false);
  });
});
