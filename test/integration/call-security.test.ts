// Offers that try to get around end-to-end encryption, sent by a raw SIP peer to a Peerdial user
// who is in a ring with the user the offers claim to come from: a Peerdial user's offer stripped
// of its key (a downgrade), the key swapped for a man in the middle's own, a key whose signature
// does not match. Each is refused with 488 "call could not be secured", never rings, and is
// counted; a phone's plain offer rings marked "Not encrypted", unless the user turned that off.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Engine } from '../../native/roots/node-engine.js';
import { EngineHarness } from '../support/engines.js';
import { generateX25519KeyPair } from '../../native/wire/crypto/x25519.js';
import { parseSipMessage } from '../../native/wire/sip/message.js';
import { formatMediaKey, signMediaKey, type MediaKey } from '../../native/wire/sdp/media-key.js';
import type { CallView } from '../../native/control/api.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

/** A SIP peer on a UDP socket that sends one INVITE and reports the final response. */
/** A phone that cannot encrypt: every INVITE it gets is answered 488, and its offer kept. */
async function refusingPhone(): Promise<{ port: number; offers: string[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const offers: string[] = [];
  socket.on('message', (bytes, from) => {
    const text = bytes.toString();
    if (!text.startsWith('INVITE ')) return;
    offers.push(text.slice(text.indexOf('\r\n\r\n') + 4));
    const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(text)![1];
    const response = `SIP/2.0 488 Not Acceptable Here\r\nVia: ${header('Via')}\r\nFrom: ${header('From')}\r\nTo: ${header('To')};tag=phone\r\nCall-ID: ${header('Call-ID')}\r\nCSeq: ${header('CSeq')}\r\nContent-Length: 0\r\n\r\n`;
    socket.send(response, from.port, from.address);
  });
  return { port: socket.address().port, offers, close: () => socket.close() };
}

async function rawInvite(to: Engine, from: string, sdp: string, callId = `${randomBytes(8).toString('hex')}@attacker`): Promise<{ status: number; reason: string; warning?: string }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  try {
    const final = new Promise<{ status: number; reason: string; warning?: string }>((resolve) => {
      socket.on('message', (bytes) => {
        const parsed = parseSipMessage(bytes);
        if (parsed.kind !== 'response' || parsed.message.status < 200) return;
        const warning = /^Warning: (.*)$/im.exec(bytes.toString())?.[1];
        const { status, reason } = parsed.message;
        // ACK for a non-2xx (RFC 3261 17.1.1.3) so the callee stops retransmitting.
        const toHeader = /^To: (.*)$/im.exec(bytes.toString())![1];
        socket.send(
          `ACK ${to.sipContact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${callId.slice(0, 8)};rport\r\nMax-Forwards: 70\r\n` +
            `From: <${from}>;tag=x1\r\nTo: ${toHeader}\r\nCall-ID: ${callId}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`,
          to.sip.port,
          '127.0.0.1',
        );
        resolve({ status, reason, ...(warning ? { warning } : {}) });
      });
    });
    const body = Buffer.from(sdp);
    socket.send(
      Buffer.concat([
        Buffer.from(
          `INVITE ${to.sipContact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${callId.slice(0, 8)};rport\r\nMax-Forwards: 70\r\n` +
            `From: <${from}>;tag=x1\r\nTo: <sip:ben@peerdial>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:${port}>\r\n` +
            `Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]),
      to.sip.port,
      '127.0.0.1',
    );
    return await final;
  } finally {
    socket.close();
  }
}

function offer(key?: MediaKey): string {
  return (
    'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
    `m=audio 40000 ${key ? 'RTP/SAVP' : 'RTP/AVP'} 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n` +
    (key ? `a=${formatMediaKey(key)}\r\n` : '')
  );
}

const rawEd25519 = (pair: ReturnType<typeof generateKeyPairSync>) => pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64url');

describe('offers that try to get around end-to-end encryption', () => {
  let ann: Engine;
  let ben: Engine;
  const rang: CallView[] = [];

  before(async () => {
    [ann, ben] = await engines.pair('ann', 'ben');
    ben.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') rang.push(item.data as CallView);
    });
  });

  const refused = async () => (await ben.api.invoke('node.status', {})).callSecurity.refused;

  it('refuses a Peerdial user\'s offer without its key (a downgrade), and ben never rings', async () => {
    const answer = await rawInvite(ben, 'sip:ann@peerdial', offer());
    assert.equal(answer.status, 488);
    assert.match(answer.reason, /could not be secured/);
    assert.match(answer.warning ?? '', /without its end-to-end key/);
    assert.equal((await refused()).downgrade, 1);
    assert.equal(rang.length, 0, 'nothing rang at ben');
  });

  it('refuses a key swapped for a man in the middle\'s own, signed by his own identity', async () => {
    const mallory = generateKeyPairSync('ed25519');
    const callId = `${randomBytes(8).toString('hex')}@attacker`;
    const key = signMediaKey(
      'caller',
      { callId, callerAor: 'sip:ann@peerdial', calleeAor: 'sip:ben@peerdial' },
      { ephemeral: generateX25519KeyPair().publicKey.toString('base64url'), identity: rawEd25519(mallory), identityPrivateKey: mallory.privateKey.export({ format: 'der', type: 'pkcs8' }) },
    );
    const answer = await rawInvite(ben, 'sip:ann@peerdial', offer(key), callId);
    assert.equal(answer.status, 488);
    assert.match(answer.warning ?? '', /not theirs/);
    assert.equal((await refused())['wrong-key'], 1);
  });

  it('refuses ann\'s real signature over a key that was changed on the way, or moved to another call', async () => {
    const callId = `${randomBytes(8).toString('hex')}@attacker`;
    const context = { callId, callerAor: 'sip:ann@peerdial', calleeAor: 'sip:ben@peerdial' };
    const signed = signMediaKey('caller', context, { ephemeral: generateX25519KeyPair().publicKey.toString('base64url'), identity: ann.identity.current!.publicKey, identityPrivateKey: ann.identity.signingKey! });
    const swapped = { ...signed, ephemeral: generateX25519KeyPair().publicKey.toString('base64url') };
    const first = await rawInvite(ben, 'sip:ann@peerdial', offer(swapped), callId);
    assert.equal(first.status, 488);
    assert.match(first.warning ?? '', /signature/);
    // The untouched key, replayed into a call with another Call-ID.
    const moved = await rawInvite(ben, 'sip:ann@peerdial', offer(signed));
    assert.equal(moved.status, 488);
    assert.equal((await refused())['bad-signature'], 2);
    assert.equal(rang.length, 0, 'nothing rang at ben');
  });

  it('rings for a phone\'s plain offer marked "Not encrypted", and refuses it once the user turns such calls off', async () => {
    const ringing = rawInvite(ben, 'sip:deskphone@192.0.2.1', offer());
    const call = await until('the phone call ringing at ben', async () => rang.find((v) => v.state === 'incoming' && v.peer === 'sip:deskphone@192.0.2.1'));
    await ben.api.invoke('call.answer', { id: call.id });
    assert.equal((await ringing).status, 200);
    const [active] = await ben.api.invoke('call.list', {});
    assert.equal(active.encryption, 'none');
    await ben.api.invoke('call.hangup', { id: active.id });

    const turnedOff = await ben.api.invoke('call.setSecurity', { allowUnencryptedPhones: false });
    assert.equal(turnedOff.allowUnencryptedPhones, false);
    const answer = await rawInvite(ben, 'sip:deskphone@192.0.2.1', offer());
    assert.equal(answer.status, 488);
    assert.match(answer.warning ?? '', /turned off in Settings/);
    assert.equal((await refused())['plain-not-allowed'], 1);
    // And ben's own call to a phone offers DTLS-SRTP only; refused by a phone that cannot encrypt, it ends saying why.
    const phone = await refusingPhone();
    try {
      const dialled = await ben.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
      const ended = await until('the refused dial', async () => rang.find((v) => v.id === dialled.id && v.state === 'ended'));
      assert.equal(ended.endReason, 'not-secured');
      assert.match(ended.endMessage ?? '', /could not be secured/);
      assert.equal(phone.offers.length, 1, 'no plain offer follows the refusal');
      assert.match(phone.offers[0], /m=audio \d+ UDP\/TLS\/RTP\/SAVP /);
      assert.match(phone.offers[0], /a=fingerprint:sha-256 /);
      assert.equal((await refused())['plain-not-allowed'], 2);
    } finally {
      phone.close();
    }
    await ben.api.invoke('call.setSecurity', { allowUnencryptedPhones: true });
  });
});
