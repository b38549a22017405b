import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ACCEPT_SIGNATURE,
  SIGNATURE_LABEL,
  checkContentDigest,
  contentDigest,
  parseDictionary,
  serializeSignatureParams,
  signResponse,
  signatureBase,
  verifyResponse,
  type ResponseToSign,
} from '../../../native/wire/rescue/http-signature.js';

const KEY_ID = 'origin-key-1';
const NOW = 1_700_000_000;
const { privateKey, publicKey } = generateKeyPairSync('ed25519');

function response(body: Buffer, extra: Record<string, string | undefined> = {}): ResponseToSign {
  return {
    status: 200,
    requestTarget: '/img/a.png?v=2',
    headers: {
      'content-digest': contentDigest(body),
      'content-type': 'image/png',
      etag: '"abc"',
      'cache-control': 'public, max-age=60',
      ...extra,
    },
  };
}

function signed(r: ResponseToSign, created = NOW) {
  const h = signResponse(r, privateKey, KEY_ID, created);
  return { ...r, signatureInput: h['signature-input'], signature: h.signature };
}

describe('content digest (RFC 9530)', () => {
  it('is a sha-256 structured byte sequence that checks against the same body', () => {
    const body = Buffer.from('{"hello": "world"}');
    // RFC 9530 B.1 gives this digest for the body {"hello": "world"}.
    assert.equal(contentDigest(body), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    assert.ok(checkContentDigest(contentDigest(body), body));
  });

  it('fails when the body was altered', () => {
    const body = Buffer.from('original');
    assert.equal(checkContentDigest(contentDigest(body), Buffer.from('originaL')), false);
  });

  it('accepts sha-512 and ignores unknown algorithms next to a known one', () => {
    const body = Buffer.from('x');
    const sha512 = `sha-512=:${createHash('sha512').update(body).digest('base64')}:`;
    assert.ok(checkContentDigest(sha512, body));
    assert.ok(checkContentDigest(`unixsum=:AAAA:, ${contentDigest(body)}`, body));
  });

  it('refuses unknown algorithms alone, a wrong second digest, and junk', () => {
    const body = Buffer.from('x');
    assert.equal(checkContentDigest('md5=:AAAA:', body), false);
    assert.equal(checkContentDigest(`${contentDigest(body)}, sha-512=:AAAA:`, body), false);
    assert.equal(checkContentDigest(undefined, body), false);
    assert.equal(checkContentDigest('', body), false);
    assert.equal(checkContentDigest('sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=', body), false);
    assert.equal(checkContentDigest('sha-256=:not base64!:', body), false);
  });
});

describe('response signatures (RFC 9421)', () => {
  it('round-trips: a signed response verifies with the origin key', () => {
    const body = Buffer.from('png bytes');
    const r = signed(response(body));
    assert.match(r.signatureInput, /^rescue=\("@status" "@path";req "@query";req "content-digest" "content-type" "etag" "cache-control"\);created=1700000000;keyid="origin-key-1";alg="ed25519"$/);
    assert.match(r.signature, /^rescue=:[A-Za-z0-9+/]{86}==:$/);
    assert.deepEqual(verifyResponse(r, publicKey, KEY_ID), { ok: true });
    assert.ok(checkContentDigest(r.headers['content-digest'], body));
  });

  it('builds the signature base exactly as RFC 9421 2.5 lays it out', () => {
    const covered = [{ name: '@status' }, { name: '@path', req: true }, { name: '@query', req: true }, { name: 'content-type' }];
    const params = serializeSignatureParams(covered, { created: 1618884473, keyid: 'k"1', alg: 'ed25519' });
    assert.equal(params, '("@status" "@path";req "@query";req "content-type");created=1618884473;keyid="k\\"1";alg="ed25519"');
    const base = signatureBase(
      [
        { component: covered[0], value: '200' },
        { component: covered[1], value: '/a' },
        { component: covered[2], value: '?' },
        { component: covered[3], value: 'text/plain' },
      ],
      params,
    );
    assert.equal(
      base,
      '"@status": 200\n"@path";req: /a\n"@query";req: ?\n"content-type": text/plain\n' +
        '"@signature-params": ("@status" "@path";req "@query";req "content-type");created=1618884473;keyid="k\\"1";alg="ed25519"',
    );
  });

  it('reproduces the RFC 9421 B.2.6 Ed25519 test vector from its signature base', () => {
    // RFC 9421 B.1.4 test-key-ed25519 (JWK form) and the B.2.6 covered components.
    const d = 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU';
    const x = 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs';
    const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x }, format: 'jwk' });
    assert.equal(createPublicKey(key).export({ format: 'jwk' }).x, x);
    const covered = ['date', '@method', '@path', '@authority', 'content-type', 'content-length'].map((name) => ({ name }));
    const values = ['Tue, 20 Apr 2021 02:07:55 GMT', 'POST', '/foo', 'example.com', 'application/json', '18'];
    const params = serializeSignatureParams(covered, { created: 1618884473, keyid: 'test-key-ed25519' });
    const base = signatureBase(covered.map((component, i) => ({ component, value: values[i] })), params);
    assert.equal(
      base,
      [
        '"date": Tue, 20 Apr 2021 02:07:55 GMT',
        '"@method": POST',
        '"@path": /foo',
        '"@authority": example.com',
        '"content-type": application/json',
        '"content-length": 18',
        '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
      ].join('\n'),
    );
    assert.equal(
      sign(null, Buffer.from(base), key).toString('base64'),
      'wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==',
    );
  });

  it('fails when a covered header (content-type) was altered', () => {
    const r = signed(response(Buffer.from('png')));
    const v = verifyResponse({ ...r, headers: { ...r.headers, 'content-type': 'text/html' } }, publicKey, KEY_ID);
    assert.equal(v.ok, false);
  });

  it('fails when the response is replayed for another path or query', () => {
    const r = signed(response(Buffer.from('png')));
    assert.equal(verifyResponse({ ...r, requestTarget: '/img/b.png?v=2' }, publicKey, KEY_ID).ok, false);
    assert.equal(verifyResponse({ ...r, requestTarget: '/img/a.png?v=3' }, publicKey, KEY_ID).ok, false);
    assert.equal(verifyResponse({ ...r, status: 203 }, publicKey, KEY_ID).ok, false);
  });

  it('fails when a covered header was removed', () => {
    const r = signed(response(Buffer.from('png')));
    const v = verifyResponse({ ...r, headers: { ...r.headers, etag: undefined } }, publicKey, KEY_ID);
    assert.deepEqual(v, { ok: false, reason: 'covered field etag is absent' });
  });

  it('ignores whitespace around header values and header-name case', () => {
    const r = signed(response(Buffer.from('png')));
    const headers: Record<string, string | undefined> = { ...r.headers, 'content-type': '  image/png ' };
    headers['ETag'] = headers.etag;
    delete headers.etag;
    assert.deepEqual(verifyResponse({ ...r, headers }, publicKey, KEY_ID), { ok: true });
  });

  it('fails with another key, or a keyid that is not the expected one', () => {
    const r = signed(response(Buffer.from('png')));
    const other = generateKeyPairSync('ed25519').publicKey;
    assert.deepEqual(verifyResponse(r, other, KEY_ID), { ok: false, reason: 'signature does not verify' });
    assert.deepEqual(verifyResponse(r, publicKey, 'other-key'), { ok: false, reason: 'keyid does not match' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    assert.equal(verifyResponse(r, rsa, KEY_ID).ok, false);
  });

  it('refuses a 200 whose Signature-Input does not cover content-digest', () => {
    const body = Buffer.from('png');
    const r = response(body);
    // Sign as a 304 would be (no digest), then present the result as a 200: the policy check must refuse it.
    const asNotModified = signResponse({ ...r, status: 304, headers: { etag: '"abc"' } }, privateKey, KEY_ID, NOW);
    const v = verifyResponse(
      { ...r, headers: { etag: '"abc"' }, signatureInput: asNotModified['signature-input'], signature: asNotModified.signature },
      publicKey,
      KEY_ID,
    );
    assert.deepEqual(v, { ok: false, reason: 'signature does not cover content-digest' });
  });

  it('refuses to sign a 200 that has no content-digest', () => {
    assert.throws(() => signResponse({ status: 200, headers: { 'content-type': 'text/plain' }, requestTarget: '/' }, privateKey, KEY_ID, NOW));
  });

  it('signs and verifies a 304 that has an etag and no digest', () => {
    const r: ResponseToSign = { status: 304, requestTarget: '/img/a.png', headers: { etag: 'W/"v7"', 'cache-control': 'max-age=30' } };
    const s = signed(r);
    assert.match(s.signatureInput, /^rescue=\("@status" "@path";req "@query";req "etag" "cache-control"\);/);
    assert.deepEqual(verifyResponse(s, publicKey, KEY_ID), { ok: true });
    assert.equal(verifyResponse({ ...s, headers: { ...s.headers, etag: 'W/"v8"' } }, publicKey, KEY_ID).ok, false);
  });

  it('covers an empty query as "?" so "/a" and "/a?" verify alike but "/a?x" does not', () => {
    const s = signed({ status: 304, requestTarget: '/a', headers: { etag: '"1"' } });
    assert.deepEqual(verifyResponse({ ...s, requestTarget: '/a?' }, publicKey, KEY_ID), { ok: true });
    assert.equal(verifyResponse({ ...s, requestTarget: '/a?x' }, publicKey, KEY_ID).ok, false);
  });

  it('enforces maxAgeSeconds on created and refuses signatures from the future', () => {
    const r = signed(response(Buffer.from('png')), NOW - 100);
    assert.deepEqual(verifyResponse(r, publicKey, KEY_ID, { nowSeconds: NOW, maxAgeSeconds: 300 }), { ok: true });
    assert.deepEqual(verifyResponse(r, publicKey, KEY_ID, { nowSeconds: NOW, maxAgeSeconds: 50 }), { ok: false, reason: 'signature too old' });
    const future = signed(response(Buffer.from('png')), NOW + 3600);
    assert.deepEqual(verifyResponse(future, publicKey, KEY_ID, { nowSeconds: NOW }), { ok: false, reason: 'created is in the future' });
  });

  it('gives {ok:false} for malformed or missing headers and never throws', () => {
    const good = signed(response(Buffer.from('png')));
    const cases: Array<Partial<{ signatureInput: string | undefined; signature: string | undefined; requestTarget: string; status: number }>> = [
      { signatureInput: undefined },
      { signature: undefined },
      { signatureInput: '' },
      { signatureInput: 'rescue=' },
      { signatureInput: 'rescue=("@status"' },
      { signatureInput: 'rescue=("@status" "@status" "@path";req "@query";req);keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req "content-digest");keyid="origin-key-1";alg="rsa-pss-sha512"' },
      { signatureInput: 'rescue=("@status" "@path" "@query";req "content-digest");keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req "content-digest";sf);keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req "content-digest" "@method");keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req "content-digest" "Content-Type");keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req content-digest);keyid="origin-key-1";alg="ed25519"' },
      { signatureInput: 'rescue=("@status" "@path";req "@query";req "content-digest");keyid="origin-key-1";alg="ed25519";created="x"' },
      { signatureInput: 'other=("@status");keyid="origin-key-1"' },
      { signatureInput: 'rescue=:AAAA:' },
      { signature: 'rescue=:AAAA:' },
      { signature: 'rescue="abc"' },
      { signature: 'rescue=:%%%:' },
      { signature: 'other=:AAAA:' },
      { signature: '\u0000\u00ff' },
      { requestTarget: '' },
      { status: Number.NaN },
    ];
    for (const c of cases) {
      const r = { ...good, ...c };
      const v = verifyResponse(r, publicKey, KEY_ID);
      assert.equal(v.ok, false, JSON.stringify(c));
    }
    // A header value with a line break cannot smuggle an extra base line.
    const injected = { ...good, headers: { ...good.headers, etag: '"abc"\n"@status": 200' } };
    assert.equal(verifyResponse(injected, publicKey, KEY_ID).ok, false);
  });

  it('picks its own label among several signatures', () => {
    const r = signed(response(Buffer.from('png')));
    const withOthers = {
      ...r,
      signatureInput: `sig1=("@status");created=1, ${r.signatureInput}`,
      signature: `sig1=:AAAA:, ${r.signature}`,
    };
    assert.deepEqual(verifyResponse(withOthers, publicKey, KEY_ID), { ok: true });
  });

  it('asks for a signature with the rescue label and the components a rescue server needs', () => {
    const dict = parseDictionary(ACCEPT_SIGNATURE);
    assert.ok(dict);
    const member = dict.get(SIGNATURE_LABEL);
    assert.equal(member?.kind, 'inner-list');
    assert.equal(ACCEPT_SIGNATURE, 'rescue=("@status" "@path";req "@query";req "content-digest");alg="ed25519"');
  });
});
