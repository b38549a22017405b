// Location items in the BitTorrent DHT (BEP 44) on a private DHT of 100 nodes on loopback: a
// user's devices publish their bindings into one signed item that a buddy finds by the user's
// key; tampered, unsigned, replayed (older seq), oversized and other-key items served by hostile
// DHT nodes are never believed.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import bencode from 'bencode';
import { createLogger } from '../../native/log.js';
import { LocationStore, type OwnLocation } from '../../native/services/dht/location-store.js';
import { startMainlineDht, type MainlineDht } from '../../native/transport/mainline-dht.js';
import { encodeLocationItem, locationSalt, locationTarget } from '../../native/wire/dht/location-item.js';
import { startPrivateDht, type PrivateDht } from '../support/private-dht.js';

const OVERLAY = 'peerdial';
let dht: PrivateDht;
let writer: MainlineDht;
let reader: MainlineDht;
const log = createLogger('test', 'error');

interface User {
  name: string;
  publicKey: Buffer;
  privateKey: KeyObject;
}

function newUser(name: string): User {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { name, publicKey: publicKey.export({ format: 'der', type: 'spki' }).subarray(12), privateKey };
}

/** A device of `user` publishing one binding (its contact) through `dht`. */
function device(user: User, slot: string, contact: string): LocationStore {
  const own: OwnLocation = { publicKey: user.publicKey.toString('base64url'), user: user.name, bindings: [{ slot, value: { user: user.name, overlay: OVERLAY, contact } }] };
  return new LocationStore({ overlay: OVERLAY, own: () => own, sign: (data) => sign(null, data, user.privateKey), log, now: Date.now });
}

function buddyView(): LocationStore {
  return new LocationStore({ overlay: OVERLAY, own: () => undefined, sign: () => Buffer.alloc(0), log, now: Date.now });
}

/** What BEP 44 signs: the bencoded salt, seq and v, without the outer dictionary's d and e. */
function signedData(salt: Buffer, seq: number, v: Buffer): Buffer {
  return Buffer.from(bencode.encode({ salt, seq, v })).subarray(1, -1);
}

/** Every DHT node now serves `item` for `target`: a DHT whose nodes around the target are hostile. */
function poison(target: Buffer, item: { v: Buffer; k?: Buffer; sig?: Buffer; seq?: number; salt?: Buffer }): void {
  for (const node of dht.nodes) (node as unknown as { _values: { set(key: string, value: unknown): void } })._values.set(target.toString('hex'), { ...item, id: node.nodeId });
}

describe('location items in the mainline DHT (BEP 44)', () => {
  before(async () => {
    dht = await startPrivateDht(100);
    writer = await startMainlineDht({ bind: '127.0.0.1', port: 0, bootstrap: dht.bootstrap });
    reader = await startMainlineDht({ bind: '127.0.0.1', port: 0, bootstrap: dht.bootstrap });
  });
  after(async () => {
    await writer?.close();
    await reader?.close();
    await dht?.close();
  });

  it('a buddy finds the bindings every device of the user published, each device keeping the others', async () => {
    const alice = newUser('alice');
    const laptop = device(alice, 'a'.repeat(40), 'sip:alice@192.0.2.10:5060');
    const phone = device(alice, 'b'.repeat(40), 'sip:alice@198.51.100.7:5062');
    await laptop.publish(writer);
    await phone.publish(writer);
    assert.equal(laptop.stats.publishes + phone.stats.publishes, 2, 'both puts stored');
    const found = await buddyView().find(reader, 'alice', alice.publicKey.toString('base64url'), 0);
    assert.ok(found, 'the item is found by the key');
    assert.deepEqual(found.bindings.map((b) => b.contact).sort(), ['sip:alice@192.0.2.10:5060', 'sip:alice@198.51.100.7:5062']);
    assert.ok(found.seq >= Date.now() - 60_000, 'seq is the time of signing');
  });

  it('an item whose value was changed after signing is refused', async () => {
    const carol = newUser('carol');
    const salt = locationSalt(OVERLAY);
    const honest = encodeLocationItem({ user: 'carol', bindings: [{ device: '0011223344556677', contact: 'sip:carol@192.0.2.20:5060', expires: Date.now() + 3_600_000 }] }).value;
    const forged = encodeLocationItem({ user: 'carol', bindings: [{ device: '0011223344556677', contact: 'sip:carol@203.0.113.66:5060', expires: Date.now() + 3_600_000 }] }).value;
    const seq = Date.now();
    poison(locationTarget(carol.publicKey, OVERLAY), { v: forged, k: carol.publicKey, sig: sign(null, signedData(salt, seq, honest), carol.privateKey), seq, salt });
    const before = reader.counters.badSignatures;
    const view = buddyView();
    assert.equal(await view.find(reader, 'carol', carol.publicKey.toString('base64url'), 0), undefined, 'the forged contact is never given');
    assert.ok(reader.counters.badSignatures > before, 'the bad signatures are counted');
  });

  it('an unsigned item is refused', async () => {
    const dave = newUser('dave');
    const v = encodeLocationItem({ user: 'dave', bindings: [{ device: '0011223344556677', contact: 'sip:dave@203.0.113.66:5060', expires: Date.now() + 3_600_000 }] }).value;
    poison(locationTarget(dave.publicKey, OVERLAY), { v, k: dave.publicKey, seq: Date.now() });
    assert.equal(await buddyView().find(reader, 'dave', dave.publicKey.toString('base64url'), 0), undefined);
  });

  it('an item signed by another key is never believed for this key, whatever it says', async () => {
    const erin = newUser('erin');
    const mallory = newUser('mallory');
    const salt = locationSalt(OVERLAY);
    const v = encodeLocationItem({ user: 'erin', bindings: [{ device: '0011223344556677', contact: 'sip:erin@203.0.113.66:5060', expires: Date.now() + 3_600_000 }] }).value;
    const seq = Date.now();
    // Validly signed by mallory, served where erin's item lives.
    poison(locationTarget(erin.publicKey, OVERLAY), { v, k: mallory.publicKey, sig: sign(null, signedData(salt, seq, v), mallory.privateKey), seq, salt });
    assert.equal(await buddyView().find(reader, 'erin', erin.publicKey.toString('base64url'), 0), undefined);
    // Mallory's own item saying it is erin's is found only under mallory's key, and names the wrong user there too.
    await device({ ...mallory, name: 'erin' }, 'c'.repeat(40), 'sip:erin@203.0.113.66:5060').publish(writer);
    assert.equal(await buddyView().find(reader, 'erin', erin.publicKey.toString('base64url'), 0), undefined, 'erin\'s key finds nothing of mallory\'s');
  });

  it('a replay of an item older than one already seen is refused', async () => {
    const frank = newUser('frank');
    const salt = locationSalt(OVERLAY);
    const target = locationTarget(frank.publicKey, OVERLAY);
    const item = (contact: string) => encodeLocationItem({ user: 'frank', bindings: [{ device: '0011223344556677', contact, expires: Date.now() + 3_600_000 }] }).value;
    const old = { v: item('sip:frank@192.0.2.30:5060'), seq: 1_000 };
    const current = { v: item('sip:frank@192.0.2.31:5060'), seq: 2_000 };
    const view = buddyView();
    const signed = (x: { v: Buffer; seq: number }) => ({ ...x, k: frank.publicKey, salt, sig: sign(null, signedData(salt, x.seq, x.v), frank.privateKey) });
    poison(target, signed(current));
    assert.equal((await view.find(reader, 'frank', frank.publicKey.toString('base64url'), 0))?.bindings[0].contact, 'sip:frank@192.0.2.31:5060');
    poison(target, signed(old));
    assert.equal(await view.find(reader, 'frank', frank.publicKey.toString('base64url'), 0), undefined, 'the old binding is not believed again');
    assert.equal(view.stats.stale, 1);
  });

  it('an oversized item, even validly signed, is refused', async () => {
    const gina = newUser('gina');
    const salt = locationSalt(OVERLAY);
    const big = Buffer.from(bencode.encode({ b: [{ c: 'x'.repeat(1_500), d: Buffer.alloc(8), e: 2_000_000_000 }], u: 'gina' }));
    const seq = Date.now();
    poison(locationTarget(gina.publicKey, OVERLAY), { v: big, k: gina.publicKey, salt, seq, sig: sign(null, signedData(salt, seq, big), gina.privateKey) });
    const view = buddyView();
    assert.equal(await view.find(reader, 'gina', gina.publicKey.toString('base64url'), 0), undefined);
    assert.equal(view.stats.refused, 1);
  });

  it('the storing DHT nodes refuse a put older than what they hold', async () => {
    const hank = newUser('hank');
    const laptop = device(hank, 'd'.repeat(40), 'sip:hank@192.0.2.40:5060');
    await laptop.publish(writer);
    const salt = locationSalt(OVERLAY);
    const v = encodeLocationItem({ user: 'hank', bindings: [{ device: '0011223344556677', contact: 'sip:hank@203.0.113.66:5060', expires: Date.now() + 3_600_000 }] }).value;
    await assert.rejects(writer.putMutable({ publicKey: hank.publicKey, salt, seq: 5, value: v, sign: (data) => sign(null, data, hank.privateKey) }), 'every node refuses seq 5 after a time-based seq');
    const found = await buddyView().find(reader, 'hank', hank.publicKey.toString('base64url'), 0);
    assert.equal(found?.bindings[0].contact, 'sip:hank@192.0.2.40:5060');
  });
});
