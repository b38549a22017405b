// The signed configuration-offer document: what a follower accepts, and every way a document
// that was not made (or not left) as its signer made it is told apart.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { signEd25519 } from '../../../native/wire/crypto/signature.js';
import { canonicalJson } from '../../../native/wire/overlay/record.js';
import { checkOfferedConfig, encodeConfigOffer, MAX_OFFER_BYTES, readConfigOffer, signConfigOffer, type UnsignedConfigOffer } from '../../../native/wire/lan/config-offer.js';

function keyPair(): { raw: string; pkcs8: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { raw: spki.subarray(spki.length - 32).toString('base64url'), pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

const alice = keyPair();
const mallory = keyPair();

function offer(overrides: Partial<UnsignedConfigOffer> = {}): UnsignedConfigOffer {
  return {
    signer: { key: alice.raw, name: 'Alice Admin', aor: 'sip:alice@office' },
    version: 3,
    issuedAt: 1_764_000_000_000,
    config: { overlay: 'office', bootstrap: ['192.0.2.10:5060'], stun: ['stun.example.org:3478'], turn: [{ address: '192.0.2.20:3478', username: 'u', password: 'p' }], rescue: { enabled: true, donateMbit: 5 }, callerPolicy: 'buddies' },
    ...overrides,
  };
}

describe('configuration offer documents', () => {
  it('reads back what the signer signed, with every setting', () => {
    const body = encodeConfigOffer(signConfigOffer(offer(), alice.pkcs8));
    const reading = readConfigOffer(body);
    assert.equal(reading.kind, 'valid');
    assert.ok(reading.kind === 'valid');
    assert.deepEqual(reading.offer.config, offer().config);
    assert.equal(reading.offer.version, 3);
    assert.deepEqual(reading.offer.signer, { key: alice.raw, name: 'Alice Admin', aor: 'sip:alice@office' });
  });

  it('encodes canonically: the same document gives the same bytes whatever the key order', () => {
    const signed = signConfigOffer(offer(), alice.pkcs8);
    const shuffled = JSON.parse(JSON.stringify({ sig: signed.sig, config: signed.config, version: signed.version, signer: signed.signer, issuedAt: signed.issuedAt, type: signed.type }));
    assert.equal(encodeConfigOffer(shuffled), encodeConfigOffer(signed));
    assert.equal(readConfigOffer(JSON.stringify(shuffled)).kind, 'valid');
  });

  it('refuses a document whose settings were changed after signing', () => {
    const doc = JSON.parse(encodeConfigOffer(signConfigOffer(offer(), alice.pkcs8)));
    doc.config.bootstrap = ['203.0.113.66:5060'];
    assert.equal(readConfigOffer(JSON.stringify(doc)).kind, 'bad-signature');
  });

  it('refuses a document whose version was raised after signing', () => {
    const doc = JSON.parse(encodeConfigOffer(signConfigOffer(offer(), alice.pkcs8)));
    doc.version = 99;
    assert.equal(readConfigOffer(JSON.stringify(doc)).kind, 'bad-signature');
  });

  it('refuses a document naming one key and signed by another', () => {
    const forged = signConfigOffer(offer(), mallory.pkcs8);
    assert.equal(forged.signer.key, alice.raw);
    assert.equal(readConfigOffer(encodeConfigOffer(forged)).kind, 'bad-signature');
  });

  it('accepts a document signed by the key it names, whoever that is', () => {
    const own = signConfigOffer(offer({ signer: { key: mallory.raw } }), mallory.pkcs8);
    const reading = readConfigOffer(encodeConfigOffer(own));
    assert.ok(reading.kind === 'valid');
    assert.equal(reading.offer.signer.key, mallory.raw);
  });

  it('tells an unsigned document apart', () => {
    const { sig: _sig, ...unsigned } = signConfigOffer(offer(), alice.pkcs8);
    assert.equal(readConfigOffer(canonicalJson(unsigned)).kind, 'unsigned');
  });

  it('refuses a signature made without the document context line', () => {
    const { sig: _sig, ...unsigned } = signConfigOffer(offer(), alice.pkcs8);
    const bare = { ...unsigned, sig: signEd25519(Buffer.from(canonicalJson(unsigned), 'utf8'), alice.pkcs8) };
    assert.equal(readConfigOffer(canonicalJson(bare)).kind, 'bad-signature');
  });

  it('keeps the signature valid over settings this version does not know, and drops them', () => {
    const withFuture = signConfigOffer(offer({ config: { callerPolicy: 'anyone', ...({ videoCodec: 'av1' } as object) } }), alice.pkcs8);
    const reading = readConfigOffer(encodeConfigOffer(withFuture));
    assert.ok(reading.kind === 'valid');
    assert.deepEqual(reading.offer.config, { callerPolicy: 'anyone' });
  });

  for (const [name, body] of [
    ['not JSON', '{"type":'],
    ['an array', '[]'],
    ['another document type', '{"type":"peerdial-presence"}'],
    ['no signer', canonicalJson({ type: 'peerdial-config', version: 1, issuedAt: 1, config: {}, sig: 'x' })],
    ['a short signer key', canonicalJson({ type: 'peerdial-config', signer: { key: 'abc' }, version: 1, issuedAt: 1, config: {}, sig: 'x' })],
    ['version 0', canonicalJson({ type: 'peerdial-config', signer: { key: alice.raw }, version: 0, issuedAt: 1, config: {}, sig: 'x' })],
    ['a fractional version', canonicalJson({ type: 'peerdial-config', signer: { key: alice.raw }, version: 1.5, issuedAt: 1, config: {}, sig: 'x' })],
  ] as const) {
    it(`calls ${name} malformed`, () => {
      assert.equal(readConfigOffer(body).kind, 'malformed');
    });
  }

  it('refuses a document larger than one settings page unread', () => {
    const huge = '{"type":"peerdial-config","pad":"' + 'x'.repeat(MAX_OFFER_BYTES) + '"}';
    assert.deepEqual(readConfigOffer(huge), { kind: 'malformed', reason: 'too large' });
  });

  it('refuses a well-signed document whose settings are out of bounds', () => {
    const bad = signConfigOffer(offer({ config: { bootstrap: ['not an address'] } }), alice.pkcs8);
    assert.equal(readConfigOffer(encodeConfigOffer(bad)).kind, 'malformed');
  });
});

describe('the settings an offer may carry', () => {
  it('lower-cases the overlay name and removes repeated addresses', () => {
    assert.deepEqual(checkOfferedConfig({ overlay: 'Office.Example', bootstrap: ['192.0.2.1:5060', '192.0.2.1:5060', '[2001:db8::1]:5070'] }), {
      overlay: 'office.example',
      bootstrap: ['192.0.2.1:5060', '[2001:db8::1]:5070'],
    });
  });

  for (const [name, config] of [
    ['an overlay name with a space', { overlay: 'my office' }],
    ['an address without a port', { stun: ['stun.example.org'] }],
    ['port 0', { bootstrap: ['192.0.2.1:0'] }],
    ['port 70000', { bootstrap: ['192.0.2.1:70000'] }],
    ['seventeen bootstrap peers', { bootstrap: Array.from({ length: 17 }, (_, i) => `192.0.2.${i + 1}:5060`) }],
    ['a TURN relay without address', { turn: [{ username: 'u' }] }],
    ['a TURN password with a newline', { turn: [{ address: '192.0.2.1:3478', password: 'a\nb' }] }],
    ['a rescue policy without enabled', { rescue: { donateMbit: 2 } }],
    ['a negative donation', { rescue: { enabled: true, donateMbit: -1 } }],
    ['a caller policy of "nobody"', { callerPolicy: 'nobody' }],
    ['a list instead of settings', []],
  ] as const) {
    it(`refuses ${name} with a sentence`, () => {
      const result = checkOfferedConfig(config);
      assert.equal(typeof result, 'string');
      assert.ok((result as string).length > 10);
    });
  }
});
