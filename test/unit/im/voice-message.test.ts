// Voice messages on the wire: Opus packets packed, encrypted in chunks the sealed manifest
// vouches for, and the overlay's rules for those chunks (stored apart, capped, dropped with
// their message).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordStore } from '../../../native/proto/overlay/record-store.js';
import { openOfflineMessage, sealOfflineMessage } from '../../../native/wire/im/offline-message.js';
import { encryptVoice, openVoiceChunk, packVoice, parseVoiceManifest, unpackVoice, VOICE_CHUNK_BYTES } from '../../../native/wire/im/voice-message.js';
import { generateX25519KeyPair } from '../../../native/wire/crypto/x25519.js';
import {
  MAILBOX_LIMITS,
  mailboxAckSlot,
  mailboxChunkSlot,
  mailboxGreetingSlot,
  mailboxKey,
  mailboxMessageSlot,
  messageSlotOfChunk,
  parseRecord,
  signRecord,
  type OverlayRecord,
} from '../../../native/wire/overlay/record.js';
import { newOwner, type Owner } from '../../sim/records.js';

const OVERLAY = 'peerdial';
const DAY = 24 * 3_600_000;

function packets(count: number, size = 60): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(size, i % 251));
}

function chunkRecord(sender: Owner, recipient: Owner, callId: string, index: number, chunk: Buffer): OverlayRecord {
  return signRecord(
    { type: 'mailbox', key: mailboxKey('carol', OVERLAY), owner: sender.owner, slot: mailboxChunkSlot(callId, index), seq: 1, expires: DAY, value: { user: 'carol', overlay: OVERLAY, to: recipient.owner, chunk: chunk.toString('base64url') } },
    sender.privateKey,
  );
}

describe('voice message audio', () => {
  it('packs Opus packets with their lengths and unpacks them exactly; refuses bytes that do not divide', () => {
    const list = [Buffer.from([1]), Buffer.alloc(300, 7), Buffer.from([9, 9])];
    const packed = packVoice(list);
    assert.deepEqual(unpackVoice(packed), list);
    assert.equal(unpackVoice(packed.subarray(0, packed.length - 1)), undefined);
    assert.equal(unpackVoice(Buffer.from([0, 0])), undefined, 'an empty packet is not one');
  });

  it('encrypts into chunks of at most 16 KiB that open only in order, under their Call-ID, unchanged', () => {
    const audio = packVoice(packets(1500)); // 30 s at 24 kbit/s
    const { manifest, chunks } = encryptVoice(audio, 'call-1', 30_000);
    assert.equal(chunks.length, Math.ceil(audio.length / VOICE_CHUNK_BYTES));
    assert.deepEqual(parseVoiceManifest(JSON.parse(JSON.stringify(manifest))), manifest);
    const opened = chunks.map((c, i) => openVoiceChunk(c, manifest, 'call-1', i));
    assert.deepEqual(Buffer.concat(opened.map((o) => (o.ok ? o.audio : Buffer.alloc(0)))), audio);
    assert.ok(!chunks[0].includes(audio.subarray(0, 32)), 'no plain audio in a chunk');

    const flipped = Buffer.from(chunks[1]);
    flipped[5] ^= 1;
    assert.deepEqual(openVoiceChunk(flipped, manifest, 'call-1', 1), { ok: false, reason: 'tampered' });
    assert.deepEqual(openVoiceChunk(chunks[1], manifest, 'call-1', 0), { ok: false, reason: 'tampered' }, 'a chunk swapped into another place');
    assert.deepEqual(openVoiceChunk(chunks[0], manifest, 'call-2', 0), { ok: false, reason: 'tampered' }, 'a chunk of another message');
  });

  it('travels its manifest inside the signed, sealed offline message', () => {
    const ben = newOwner();
    const cat = generateX25519KeyPair();
    const { manifest } = encryptVoice(packVoice(packets(10)), 'call-1', 200);
    const sealed = sealOfflineMessage({ from: 'sip:ben@peerdial', to: 'sip:cat@peerdial', toKey: 'k', callId: 'call-1', seq: 1, at: 1, text: 'Voice message', voice: manifest }, { publicKey: ben.owner, privateKey: ben.privateKey }, cat.publicKey);
    const opened = openOfflineMessage(sealed, cat.privateKey, ben.owner);
    assert.ok(opened.ok);
    assert.deepEqual(opened.message.voice, manifest);
    assert.equal(parseVoiceManifest({ ...manifest, durationMs: 10 * 60_000 }), undefined, 'longer than a voice message can be');
    assert.equal(parseVoiceManifest({ ...manifest, chunks: ['x'] }), undefined);
  });
});

describe('voice chunks in a mailbox', () => {
  const ben = newOwner();
  const carol = newOwner();
  const store = () => new RecordStore({ overlay: OVERLAY, now: () => 1_000 });

  it('are a record shape of their own, named after their message', () => {
    const r = chunkRecord(ben, carol, 'c1', 3, Buffer.alloc(100, 1));
    assert.equal(typeof parseRecord(r), 'object');
    assert.equal(messageSlotOfChunk(r.slot), mailboxMessageSlot('c1'));
    assert.equal(parseRecord({ ...r, slot: 'v:nothex:1' }), 'bad voice chunk slot');
    assert.equal(parseRecord({ ...r, value: { ...r.value, sealed: 'AAAA' } }), 'a mailbox record is a message, a voice chunk, a greeting or an acknowledgement');
  });

  it('stay out of a whole-mailbox fetch and come one by one by slot; the acknowledgement of their message drops them', () => {
    const s = store();
    const message = signRecord(
      { type: 'mailbox', key: mailboxKey('carol', OVERLAY), owner: ben.owner, slot: mailboxMessageSlot('c1'), seq: 1, expires: DAY, value: { user: 'carol', overlay: OVERLAY, to: carol.owner, sealed: 'AAAA' } },
      ben.privateKey,
    );
    const chunks = [0, 1, 2].map((i) => chunkRecord(ben, carol, 'c1', i, Buffer.alloc(VOICE_CHUNK_BYTES, i)));
    for (const c of chunks) assert.deepEqual(s.put(c), { ok: true, changed: true });
    assert.deepEqual(s.put(message), { ok: true, changed: true });
    const key = mailboxKey('carol', OVERLAY);
    assert.deepEqual(s.get(key).map((r) => r.slot), [message.slot]);
    assert.deepEqual(s.get(key, 'mailbox', chunks[1].slot), [chunks[1]]);

    const ack = signRecord({ type: 'mailbox', key, owner: carol.owner, slot: mailboxAckSlot(carol.owner), seq: 2, expires: DAY, value: { user: 'carol', overlay: OVERLAY, to: carol.owner, acked: [message.slot] } }, carol.privateKey);
    assert.deepEqual(s.put(ack), { ok: true, changed: true });
    assert.deepEqual(s.allUnder(key).map((r) => r.slot), [ack.slot], 'message and chunks gone');
    assert.deepEqual(s.put(chunks[0]), { ok: false, reason: 'acknowledged' }, 'a stale copy is not taken back');
  });

  it('are capped per mailbox in bytes', () => {
    const s = store();
    const perChunk = JSON.stringify(chunkRecord(ben, carol, 'c0', 0, Buffer.alloc(VOICE_CHUNK_BYTES))).length;
    const fit = Math.floor(MAILBOX_LIMITS.maxVoiceBytes / perChunk);
    let stored = 0;
    for (let i = 0; i < fit + 2; i++) if (s.put(chunkRecord(ben, carol, `c${Math.floor(i / 50)}`, i % 50, Buffer.alloc(VOICE_CHUNK_BYTES, i % 256))).ok) stored++;
    assert.ok(stored <= fit && stored >= fit - 1, `${stored} chunks of ~${perChunk} bytes kept under ${MAILBOX_LIMITS.maxVoiceBytes}`);
    assert.deepEqual(s.put(chunkRecord(newOwner(), carol, 'other', 0, Buffer.alloc(VOICE_CHUNK_BYTES))).ok, false, 'the full mailbox refuses more voice');
  });

  it("a greeting is the recipient's own, replaced by a newer one, and fetched only by its slot", () => {
    const s = store();
    const key = mailboxKey('carol', OVERLAY);
    const greeting = (owner: Owner, seq: number, to = owner.owner) =>
      signRecord({ type: 'mailbox', key, owner: owner.owner, slot: mailboxGreetingSlot(to), seq, expires: DAY, value: { user: 'carol', overlay: OVERLAY, to, greeting: 'AAAA' } }, owner.privateKey);
    assert.equal(parseRecord(greeting(ben, 1, carol.owner)), "a greeting is the recipient's own");
    assert.deepEqual(s.put(greeting(carol, 1)), { ok: true, changed: true });
    assert.deepEqual(s.put(greeting(carol, 2)), { ok: true, changed: true });
    assert.deepEqual(s.put(greeting(carol, 1)), { ok: false, reason: 'replay' });
    assert.deepEqual(s.get(key), [], 'not in a whole-mailbox fetch');
    assert.equal(s.get(key, 'mailbox', mailboxGreetingSlot(carol.owner))[0]?.seq, 2);
  });
});
