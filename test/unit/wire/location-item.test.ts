import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import { decodeLocationItem, deviceTag, encodeLocationItem, LOCATION_ITEM_MAX_BYTES, locationSalt, locationTarget, type LocationBinding } from '../../../native/wire/dht/location-item.js';

const EXPIRES = 1_800_000_000_000;
const tls = { port: 5061, certificate: Buffer.alloc(32, 9).toString('base64url') };

function binding(i: number, extra: Partial<LocationBinding> = {}): LocationBinding {
  return { device: deviceTag(`slot-${i}`), contact: `sip:alice@203.0.113.${i}:5060`, expires: EXPIRES + i * 1000, tls, ...extra };
}

describe('the location item (BEP 44 value)', () => {
  it('round-trips a user, key, voicemail flag and bindings, contacts written without sip:user@', () => {
    // Written longest-lived first.
    const item = { user: 'alice', x25519: Buffer.alloc(32, 7).toString('base64url'), voicemail: false as const, bindings: [binding(2, { via: '198.51.100.1:5060' }), binding(1)] };
    delete item.bindings[0].tls;
    const { value, dropped } = encodeLocationItem(item);
    assert.equal(dropped, 0);
    assert.ok(!value.includes(Buffer.from('sip:alice@')), 'the user part is not repeated');
    assert.deepEqual(decodeLocationItem(value), item);
  });

  it('keeps within 1000 bytes, leaving out phones first, then the bindings that expire soonest', () => {
    const phones = [binding(50, { contact: 'sip:alice@203.0.113.50:5060;pdphone=desk', expires: EXPIRES * 2 })];
    const apps = Array.from({ length: 12 }, (_, i) => binding(i + 1));
    const { value, dropped } = encodeLocationItem({ user: 'alice', x25519: Buffer.alloc(32).toString('base64url'), bindings: [...phones, ...apps] });
    assert.ok(value.length + String(value.length).length + 1 <= LOCATION_ITEM_MAX_BYTES);
    assert.ok(dropped > 1);
    const kept = decodeLocationItem(value);
    assert.ok(typeof kept === 'object');
    assert.ok(!kept.bindings.some((b) => b.contact.includes('pdphone')), 'the phone went first');
    assert.ok(kept.bindings.every((b) => b.expires >= apps[dropped - 1].expires), 'the longest-lived apps stayed');
  });

  it('refuses what encodeLocationItem would not write', () => {
    const good = { u: 'alice', b: [{ c: '203.0.113.1:5060', d: Buffer.alloc(8), e: 1_800_000_000 }] };
    assert.equal(typeof decodeLocationItem(Buffer.from(bencode.encode(good))), 'object');
    const cases: Array<[string, unknown]> = [
      ['no valid user name', { ...good, u: 'Alice Smith' }],
      ['not a dictionary', [1, 2]],
      ['no binding list', { u: 'alice' }],
      ['a binding has no 8-byte device tag', { ...good, b: [{ ...good.b[0], d: Buffer.alloc(4) }] }],
      ['a binding has no expiry', { ...good, b: [{ ...good.b[0], e: -1 }] }],
      ["a binding's member is not HOST:PORT", { ...good, b: [{ ...good.b[0], v: 'nowhere' }] }],
      ["a binding's certificate hash is not 32 bytes", { ...good, b: [{ ...good.b[0], t: 5061, f: Buffer.alloc(3) }] }],
      ['the X25519 key is not 32 bytes', { ...good, x: Buffer.alloc(31) }],
      ['not in canonical form', { ...good, z: 1 }],
    ];
    for (const [why, value] of cases) assert.equal(decodeLocationItem(Buffer.from(bencode.encode(value))), why);
    assert.equal(decodeLocationItem(Buffer.from('d1:u5:alice')), 'not bencode');
    assert.equal(decodeLocationItem(Buffer.alloc(1200, 0x61)), 'larger than 1000 bytes');
    // Trailing bytes after a valid item: our strict reader refuses them before bencode decodes.
    assert.equal(decodeLocationItem(Buffer.concat([Buffer.from(bencode.encode(good)), Buffer.from('xx')])), 'not bencode');
  });

  it('names the overlay in the salt, within BEP 44\'s 64 bytes, and targets SHA-1(key || salt)', () => {
    const salt = locationSalt('Peerdial');
    assert.equal(salt.length, 61);
    assert.ok(salt.toString().startsWith('peerdial-location-v1:'));
    assert.deepEqual(salt, locationSalt('peerdial'), 'overlay names are case-insensitive');
    assert.notDeepEqual(locationSalt('elsewhere'), salt);
    const key = Buffer.alloc(32, 1);
    assert.notDeepEqual(locationTarget(key, 'peerdial'), locationTarget(Buffer.alloc(32, 2), 'peerdial'));
    assert.equal(locationTarget(key, 'peerdial').length, 20);
  });
});
