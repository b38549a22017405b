import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Binding } from '../../../native/proto/sip/registrar-bindings.js';
import { PhoneRegistrar } from '../../../native/services/phones/phone-registrar.js';
import type { RoutingCounters } from '../../../native/services/phones/phones-view.js';
import { digestHa1, digestResponse } from '../../../native/wire/sip/digest.js';
import { createLogger } from '../../../native/log.js';
import { incoming } from '../sip/fake-stack.js';

const REALM = 'peerdial';
const PASSWORD = 'p4ssw0rd';
const phone = {
  id: 'p1',
  name: 'Desk',
  username: 'alice-desk',
  ha1: { md5: digestHa1('MD5', 'alice-desk', REALM, PASSWORD), sha256: digestHa1('SHA-256', 'alice-desk', REALM, PASSWORD), sha512_256: digestHa1('SHA-512-256', 'alice-desk', REALM, PASSWORD) },
  createdAt: 0,
};

function setup(now = () => 1_000_000) {
  const counters = { registered: 0, challenged: 0, authFailed: 0, lockedOut: 0 } as RoutingCounters;
  let bindings: Binding[] = [];
  const registrar = new PhoneRegistrar({
    log: createLogger('test', 'error'),
    now,
    counters,
    serves: (user) => user === 'alice',
    ownerOf: () => 'alice',
    realm: () => REALM,
    byUsername: (u) => (u === phone.username ? { phone, bindings } : undefined),
    setBindings: async (_id, b) => {
      bindings = b;
    },
  });
  return { registrar, counters, bindings: () => bindings };
}

function register(authorization?: Record<string, unknown>, to = 'sip:alice@peerdial', userAgent = 'TestPhone/1') {
  return incoming('REGISTER', {
    to: { uri: to, params: {} },
    from: { uri: to, params: { tag: 'f' } },
    'call-id': 'reg-1',
    cseq: { seq: authorization ? 2 : 1, method: 'REGISTER' },
    contact: [{ uri: 'sip:alice@192.168.1.20:5062', params: {} }],
    expires: '600',
    'user-agent': userAgent,
    ...(authorization ? { authorization: [authorization] } : {}),
  });
}

/** The phone's answer to a challenge, as a phone computes it. */
function answer(challenge: Record<string, unknown>, password = PASSWORD): Record<string, unknown> {
  const nonce = String(challenge.nonce).replace(/"/g, '');
  const algorithm = String(challenge.algorithm) as 'MD5' | 'SHA-256';
  const ha1 = digestHa1(algorithm, phone.username, REALM, password);
  const response = digestResponse({ algorithm, ha1, method: 'REGISTER', uri: 'sip:peerdial', nonce, qop: 'auth', nc: '00000001', cnonce: 'abc' });
  return { scheme: 'Digest', username: `"${phone.username}"`, realm: `"${REALM}"`, nonce: `"${nonce}"`, uri: '"sip:peerdial"', response: `"${response}"`, algorithm, qop: 'auth', nc: '00000001', cnonce: '"abc"' };
}

const challengesOf = (r: ReturnType<typeof incoming>) => (r.answered[0].options as { headers: Record<string, Array<Record<string, unknown>>> }).headers['www-authenticate'];

describe('the phones registrar (RFC 3261 10.3, digest per RFC 3261 22.4 and RFC 8760)', () => {
  it('challenges with SHA-256 first and MD5 second; the right answer binds the contact', async () => {
    const { registrar, counters, bindings } = setup();
    const first = register();
    await registrar.onRegister(first);
    assert.equal(first.answered[0].status, 401);
    const challenges = challengesOf(first);
    assert.deepEqual(challenges.map((c) => c.algorithm), ['SHA-256', 'MD5']);
    const second = register(answer(challenges[0]));
    await registrar.onRegister(second);
    assert.equal(second.answered[0].status, 200);
    assert.equal(bindings()[0].contact, 'sip:alice@192.168.1.20:5062');
    assert.equal(counters.registered, 1);
  });

  it('an Authorization that is not a list of credentials (a string, null entries) is taken as none: challenged, not a crash', async () => {
    const { registrar } = setup();
    for (const odd of ['Digest username="alice"', [null, 'x'], {}]) {
      const request = register();
      request.request.headers.authorization = odd as never;
      await registrar.onRegister(request);
      assert.equal(request.answered[0].status, 401);
    }
  });

  it('a nonce answered once cannot be replayed', async () => {
    const { registrar, counters } = setup();
    const first = register();
    await registrar.onRegister(first);
    const credentials = answer(challengesOf(first)[1]);
    await registrar.onRegister(register(credentials));
    const replay = register(credentials);
    await registrar.onRegister(replay);
    assert.equal(replay.answered[0].status, 401, 'a fresh challenge, not a binding');
    assert.equal(counters.authFailed, 1);
  });

  it('a wrong password gets 403, and ten of them lock the source out', async () => {
    const { registrar, counters } = setup();
    for (let i = 0; i < 10; i++) {
      const challenge = register();
      await registrar.onRegister(challenge);
      const wrong = register(answer(challengesOf(challenge)[0], 'guess' + i));
      await registrar.onRegister(wrong);
      assert.equal(wrong.answered[0].status, 403);
    }
    const locked = register();
    await registrar.onRegister(locked);
    assert.equal(locked.answered[0].status, 403);
    assert.match(String((locked.answered[0].options as { reason: string }).reason), /too many failed attempts/);
    assert.equal(counters.lockedOut, 1);
  });

  it('as a proxy (RFC 3261 22.3): 407 with Proxy-Authenticate, then the phone, with our Proxy-Authorization taken off', async () => {
    const { registrar } = setup();
    const invite = () =>
      incoming('INVITE', { to: { uri: 'sip:carol@example.org', params: {} }, from: { uri: 'sip:alice@peerdial', params: { tag: 'f' } }, 'call-id': 'c1', cseq: { seq: 1, method: 'INVITE' } });
    const first = invite();
    assert.equal(registrar.authenticate(first, 'proxy'), undefined);
    assert.equal(first.answered[0].status, 407);
    const challenge = (first.answered[0].options as { headers: Record<string, Array<Record<string, unknown>>> }).headers['proxy-authenticate'][0];
    const second = invite();
    const nonce = String(challenge.nonce).replace(/"/g, '');
    const ha1 = digestHa1('SHA-256', phone.username, REALM, PASSWORD);
    const response = digestResponse({ algorithm: 'SHA-256', ha1, method: 'INVITE', uri: 'sip:carol@example.org', nonce, qop: 'auth', nc: '00000001', cnonce: 'x' });
    second.request.headers['proxy-authorization'] = [{ scheme: 'Digest', username: `"${phone.username}"`, realm: `"${REALM}"`, nonce: `"${nonce}"`, uri: '"sip:carol@example.org"', response: `"${response}"`, algorithm: 'SHA-256', qop: 'auth', nc: '00000001', cnonce: '"x"' }];
    assert.equal(registrar.authenticate(second, 'proxy')?.phone.id, 'p1');
    assert.equal(second.answered.length, 0, 'nothing answered: the proxy sends it on');
    assert.equal(second.request.headers['proxy-authorization'], undefined);
  });

  it('another user\'s AOR is refused; baresip 1.x is offered MD5 alone (it fails on SHA-256)', async () => {
    const { registrar } = setup();
    const other = register(undefined, 'sip:bob@peerdial');
    await registrar.onRegister(other);
    assert.equal(other.answered[0].status, 403);
    const old = register(undefined, 'sip:alice@peerdial', 'baresip v1.0.0 (x86_64/linux)');
    await registrar.onRegister(old);
    assert.deepEqual(challengesOf(old).map((c) => c.algorithm), ['MD5']);
  });
});
