// Inputs the fuzzers (test/fuzz) found that broke a wire parser, each kept as the case it was.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { decodeLocationItem } from '../../../native/wire/dht/location-item.js';
import { readConfigOffer } from '../../../native/wire/lan/config-offer.js';
import { decodeCredentialRequest } from '../../../native/wire/relay/credential.js';
import { decodeDsrp } from '../../../native/wire/rescue/dsrp.js';
import { checkContentDigest, contentDigest } from '../../../native/wire/rescue/http-signature.js';
import { parseTsigKey } from '../../../native/wire/dns/update.js';
import { decodeOverlayRequest, OVERLAY_CONTENT_TYPE } from '../../../native/wire/overlay/messages.js';
import { parseRecord } from '../../../native/wire/overlay/record.js';
import { buildPidf, MAX_NOTE_LENGTH, parsePidf } from '../../../native/wire/presence/pidf.js';
import { answer } from '../../../native/wire/sdp/audio-offer-answer.js';
import { offeredIceUfrag } from '../../../native/wire/sdp/ice-attributes.js';
import { parseSipMessage, serializeSipMessage, type SipRequest } from '../../../native/wire/sip/message.js';
import { SEED_NOW } from '../../fuzz/support/seed-time.js';

describe('inputs found by fuzzing', () => {
  it('refuses a location item with a negative string length instead of looping forever', () => {
    // bencode 4.0.1 steps backwards on "-48...1:" and never ends; run it where a hang can be cut off.
    const input = 'ZDotNDgyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIxOjpk';
    const code = `import('./native/wire/dht/location-item.ts').then((m) => console.log(JSON.stringify(m.decodeLocationItem(Buffer.from('${input}', 'base64')))))`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.signal, null, 'decodeLocationItem did not return within 20 s');
    assert.equal(r.stdout.trim(), '"not bencode"');
    assert.equal(decodeLocationItem(Buffer.from('d1:bi-1ee')), 'no valid user name');
  });
});

describe('PIDF notes found by fuzzing', () => {
  const doc = (note: string) => `<presence entity="sip:a@b"><tuple id="t"><status><basic>open</basic></status></tuple><note>${note}</note></presence>`;

  it('reads a note the same after writing it out again when its cut ends in a space', () => {
    // Cut at MAX_NOTE_LENGTH, "x...x& more" ends in "& ".
    const first = parsePidf(doc('x'.repeat(MAX_NOTE_LENGTH - 2) + '&amp; more'));
    assert.equal(first?.note, 'x'.repeat(MAX_NOTE_LENGTH - 2) + '&');
    assert.deepEqual(parsePidf(buildPidf({ ...first!, at: 0 })), { ...first, at: 0 });
  });

  it('drops a note that is only an escaped space', () => {
    assert.deepEqual(parsePidf(doc('&#32;')), { entity: 'sip:a@b', status: 'available' });
  });
});

describe('overlay records nested deep, found by fuzzing', () => {
  const depth = 20_000;
  const record = (extra: string) =>
    `{"type":"name","key":"${'a'.repeat(40)}","owner":"${'A'.repeat(43)}","slot":"","seq":1,"expires":1,"sig":"${'A'.repeat(86)}","value":{"user":"a","overlay":"b"${extra}}}`;
  const deep = ',"x":' + '['.repeat(depth) + ']'.repeat(depth);

  it('refuses a 40 KB record whose value nests 20,000 deep instead of overflowing the stack', () => {
    assert.equal(parseRecord(JSON.parse(record(deep))), 'nested too deep');
    assert.equal(typeof parseRecord(JSON.parse(record(''))), 'object');
  });

  it('answers 400 to an overlay store carrying one', () => {
    const request = {
      method: 'REGISTER',
      uri: 'sip:192.0.2.1:5060',
      version: '2.0',
      headers: { 'p2p-op': 'store', 'p2p-overlay': 'o', 'content-type': OVERLAY_CONTENT_TYPE, contact: [] },
      content: `{"records":[${record(deep)}],"replica":false}`,
    } as unknown as SipRequest;
    assert.deepEqual(decodeOverlayRequest(request), { ok: false, status: 400, reason: 'Bad Request (records must be well-formed records)' });
  });
});

describe('signed JSON nested deep, found by fuzzing', () => {
  // 12 KB nested 6,000 deep: JSON.parse takes it, canonicalJson in the signature check did not.
  const deep = '['.repeat(6_000) + ']'.repeat(6_000);
  const key = 'A'.repeat(43);

  it('refuses a relay credential request nested deep instead of throwing RangeError', () => {
    const body = `{"zz":${deep},"relay":1,"type":"credential-request","aor":"sip:a@b","member":"m","key":"${key}","sig":"x","at":${SEED_NOW}}`;
    assert.deepEqual(decodeCredentialRequest(body, SEED_NOW), { ok: false, reason: 'nested too deep' });
  });

  it('refuses a DSRP message nested deep instead of throwing RangeError', () => {
    const body = `{"zz":${deep},"dsrp":1,"type":"release","origin":"0123456789abcdef","key":"${key}","sig":"x","at":${SEED_NOW}}`;
    assert.deepEqual(decodeDsrp(body, SEED_NOW), { ok: false, reason: 'nested too deep' });
  });

  it('refuses a LAN configuration offer nested deep instead of throwing RangeError', () => {
    const body = `{"zz":${deep},"type":"peerdial-config","signer":{"key":"${key}"},"version":1,"issuedAt":1,"config":{},"sig":"x"}`;
    assert.deepEqual(readConfigOffer(body), { kind: 'malformed', reason: 'nested too deep' });
  });
});

describe('SIP route sets the sip package cannot read, found by fuzzing', () => {
  const request = (route: string) =>
    Buffer.from(
      'OPTIONS sip:b@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n' +
        'To: <sip:b@example.test>\r\nFrom: <sip:a@example.test>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n' +
        `Route: ${route}\r\nContent-Length: 0\r\n\r\n`,
    );

  it('answers 400 to a Route of another scheme instead of accepting what cannot be written out', () => {
    const outcome = parseSipMessage(request('<si0:proxy.example.test;lr>'));
    assert.equal(outcome.kind, 'bad-request');
    assert.equal(outcome.kind === 'bad-request' && outcome.status, 400);
    assert.equal(outcome.kind === 'bad-request' && outcome.reason, 'unreadable Route address');
  });

  it('still takes and writes out a SIP Route', () => {
    const outcome = parseSipMessage(request('<sip:proxy.example.test;lr>'));
    assert.equal(outcome.kind, 'request');
    assert.match(serializeSipMessage(outcome.kind === 'request' ? outcome.message : ({} as SipRequest)).toString(), /^Route: +<sip:proxy\.example\.test;lr>\r$/m);
  });
});

describe('ICE credentials of digits only, found by fuzzing', () => {
  // sdp-transform hands an all-digit ice-ufrag back as a number; reading it threw TypeError.
  const offer = (ufrag: string) =>
    ['v=0', 'o=- 0 0 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', `a=ice-ufrag:${ufrag}`, 'a=ice-pwd:abcdefghijklmnopqrstuv', ''].join('\r\n');
  const local = { address: '192.0.2.9', port: 41000, codecs: ['PCMU' as const], telephoneEvent: false, direction: 'sendrecv' as const };

  it('answers an offer whose ufrag is "11" (too short for ICE) as one without ICE', () => {
    assert.equal(offeredIceUfrag(offer('11')), undefined);
    const answered = answer(offer('11'), local);
    assert.equal(answered.ok, true);
  });

  it('takes a ufrag of four digits as the string it was', () => {
    assert.equal(offeredIceUfrag(offer('1234')), '1234');
  });
});

describe('names that are properties of every object, found by fuzzing', () => {
  // Lookup tables were plain objects: "constructor" found Object itself.
  it('refuses a Content-Digest whose member is named "constructor" instead of throwing TypeError', () => {
    const body = Buffer.from('hello');
    assert.equal(checkContentDigest('constructor=::', body), false);
    assert.equal(checkContentDigest(`constructor=:AA==:, ${contentDigest(body)}`, body), true);
  });

  it('says a TSIG key with the algorithm "constructor" is unknown when it is read, not when it signs', () => {
    assert.throws(() => parseTsigKey('k:constructor:c2VjcmV0c2VjcmV0c2VjcmV0'), /unknown TSIG algorithm "constructor" \(use one of hmac-sha1/);
  });

  it('does not write a SIP header named "constructor" out as "function Object()"', () => {
    const raw =
      'MESSAGE sip:b@example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n' +
      'To: <sip:b@example.test>\r\nFrom: <sip:a@example.test>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\n' +
      'constructor: x\r\nContent-Length: 0\r\n\r\n';
    const outcome = parseSipMessage(Buffer.from(raw));
    assert.equal(outcome.kind, 'request');
    const text = serializeSipMessage(outcome.kind === 'request' ? outcome.message : ({} as SipRequest), { compact: true }).toString();
    assert.doesNotMatch(text, /function|native code/i);
    assert.match(text, /^i: c1\r$/m);
  });
});
