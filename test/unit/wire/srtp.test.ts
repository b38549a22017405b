import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import { counterIv, deriveSessionKeys, SrtcpReceiver, SrtcpSender, SrtpReceiver, SrtpSender, SRTP_AUTH_TAG_BYTES } from '../../../native/wire/srtp/srtp.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');

/** An RTP packet (PCMU) with a payload that says which packet it is. */
function rtp(seq: number, ssrc = 0xdecafbad, extra: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header.writeUInt16BE(seq, 2);
  header.writeUInt32BE(seq * 160, 4);
  header.writeUInt32BE(ssrc, 8);
  const payload = Buffer.alloc(160, seq & 0xff);
  payload.writeUInt16BE(seq, 0);
  return Buffer.concat([header, extra, payload]);
}

describe('SRTP (RFC 3711, AES_CM_128_HMAC_SHA1_80)', () => {
  it('derives the session keys of RFC 3711 B.3', () => {
    const keys = deriveSessionKeys(masterKey, masterSalt, 'rtp');
    assert.equal(keys.encryption.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
    assert.equal(keys.salt.toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
    assert.equal(keys.auth.toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
    assert.notEqual(deriveSessionKeys(masterKey, masterSalt, 'rtcp').encryption.toString('hex'), keys.encryption.toString('hex'));
    assert.throws(() => deriveSessionKeys(masterKey.subarray(1), masterSalt, 'rtp'), /16 bytes/);
  });

  it('builds the counter of 4.1.1 and, with B.2\'s session key and salt, its keystream', () => {
    const salt = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
    const iv = counterIv(salt, 0, 0);
    assert.equal(iv.toString('hex'), 'f0f1f2f3f4f5f6f7f8f9fafbfcfd0000');
    const stream = createCipheriv('aes-128-ctr', hex('2B7E151628AED2A6ABF7158809CF4F3C'), iv).update(Buffer.alloc(32));
    assert.equal(stream.toString('hex'), 'e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab');
    // SSRC lands in bytes 4-7 and the 48-bit index in bytes 8-13, each XORed with the salt.
    assert.equal(counterIv(Buffer.alloc(14), 0x01020304, 0x0a0b0c0d0e0f).toString('hex'), '0000000001020304' + '0a0b0c0d0e0f' + '0000');
  });

  it('a protected packet hides its payload, carries an 80-bit tag, and comes back whole', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const plain = rtp(1000);
    const protectedPacket = sender.protect(plain);
    assert.equal(protectedPacket.length, plain.length + SRTP_AUTH_TAG_BYTES);
    assert.deepEqual(protectedPacket.subarray(0, 12), plain.subarray(0, 12), 'the header stays readable');
    assert.notDeepEqual(protectedPacket.subarray(12, plain.length), plain.subarray(12));
    const back = receiver.unprotect(protectedPacket);
    assert.ok(back.ok);
    assert.deepEqual(back.rtp, plain);
  });

  it('CSRCs and a header extension stay in the clear and are authenticated', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const plain = rtp(7, 1, Buffer.concat([hex('00000001'), hex('bede0001'), hex('10ff0000')]));
    plain[0] = 0x80 | 0x10 | 1;
    const sent = sender.protect(plain);
    assert.deepEqual(sent.subarray(0, 24), plain.subarray(0, 24));
    const back = receiver.unprotect(sent);
    assert.ok(back.ok && back.rtp.equals(plain));
    const altered = Buffer.from(sent);
    altered[21] ^= 1;
    assert.deepEqual(new SrtpReceiver(masterKey, masterSalt).unprotect(altered), { ok: false, reason: 'auth' });
  });

  it('refuses a packet altered anywhere, a replayed one, and one older than the replay list, and counts each', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const packets = Array.from({ length: 100 }, (_, i) => sender.protect(rtp(i)));
    const tampered = Buffer.from(packets[0]);
    tampered[40] ^= 0x80;
    assert.deepEqual(receiver.unprotect(tampered), { ok: false, reason: 'auth' });
    assert.ok(receiver.unprotect(packets[0]).ok, 'a forgery does not spend the real packet\'s index');
    assert.deepEqual(receiver.unprotect(packets[0]), { ok: false, reason: 'replay' });
    for (let i = 1; i < 100; i++) assert.ok(receiver.unprotect(packets[i]).ok);
    assert.deepEqual(receiver.unprotect(packets[99]), { ok: false, reason: 'replay' });
    assert.deepEqual(receiver.unprotect(packets[30]), { ok: false, reason: 'replay' }, 'older than 64 packets');
    assert.deepEqual(receiver.unprotect(Buffer.alloc(15)), { ok: false, reason: 'malformed' });
    assert.deepEqual(receiver.counters, { malformed: 1, authFailed: 1, replayed: 3 });
  });

  it('takes reordered packets once each, within the replay list', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const packets = Array.from({ length: 10 }, (_, i) => sender.protect(rtp(500 + i)));
    for (const i of [0, 3, 1, 2, 9, 5, 4, 8, 6, 7]) assert.ok(receiver.unprotect(packets[i]).ok, `packet ${i}`);
    for (const i of [2, 9, 5]) assert.deepEqual(receiver.unprotect(packets[i]), { ok: false, reason: 'replay' });
  });

  it('follows the rollover counter across the sequence number wrap, packets reordered around it (3.3.1)', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3];
    const packets = new Map(seqs.map((s) => [s, sender.protect(rtp(s))]));
    const indexes: number[] = [];
    for (const s of [65530, 65531, 65533, 0, 65532, 65535, 65534, 2, 1, 3]) {
      const back = receiver.unprotect(packets.get(s)!);
      assert.ok(back.ok, `seq ${s}`);
      assert.deepEqual(back.rtp, rtp(s));
      indexes.push(back.index);
    }
    assert.deepEqual(indexes, [65530, 65531, 65533, 65536, 65532, 65535, 65534, 65538, 65537, 65539]);
    // Past the wrap, the old roll's packet 0 would need ROC 0: it is not the one sent under ROC 1.
    const again = new SrtpSender(masterKey, masterSalt).protect(rtp(4));
    assert.deepEqual(receiver.unprotect(again), { ok: false, reason: 'auth' }, 'a packet protected with ROC 0 after the wrap');
  });

  it('keeps streams of different SSRCs apart', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    assert.ok(receiver.unprotect(sender.protect(rtp(10, 1))).ok);
    assert.ok(receiver.unprotect(sender.protect(rtp(10, 2))).ok, 'the same sequence number on another SSRC is no replay');
    const other = new SrtpSender(hex('00112233445566778899aabbccddeeff'), masterSalt);
    assert.deepEqual(receiver.unprotect(other.protect(rtp(11, 1))), { ok: false, reason: 'auth' }, 'another key');
  });
});

/** A receiver report from SSRC 0xdeadbeef with one report block. */
const receiverReport = hex('81c90007deadbeef' + 'cafebabe' + '00000000' + '00001234' + '00000010' + '00000000' + '00000000');

describe('SRTCP (RFC 3711 3.4, AES_CM_128_HMAC_SHA1_80)', () => {
  it('encrypts all but the first 8 bytes, appends E and the index, and authenticates both', () => {
    const sender = new SrtcpSender(masterKey, masterSalt);
    const receiver = new SrtcpReceiver(masterKey, masterSalt);
    const first = sender.protect(receiverReport);
    const second = sender.protect(receiverReport);
    assert.equal(first.length, receiverReport.length + 4 + SRTP_AUTH_TAG_BYTES);
    assert.deepEqual(first.subarray(0, 8), receiverReport.subarray(0, 8));
    assert.notDeepEqual(first.subarray(8, receiverReport.length), receiverReport.subarray(8));
    assert.equal(first.readUInt32BE(receiverReport.length), 0x80000000, 'E set, index 0');
    assert.equal(second.readUInt32BE(receiverReport.length), 0x80000001, 'index 1');
    assert.notDeepEqual(first.subarray(8, receiverReport.length), second.subarray(8, receiverReport.length), 'a new keystream per index');
    const back = receiver.unprotect(second);
    assert.ok(back.ok);
    assert.deepEqual(back.rtcp, receiverReport);
    assert.equal(back.index, 1);
    assert.ok(receiver.unprotect(first).ok, 'an older compound inside the window');
  });

  it('refuses a replayed, a tampered or a foreign-keyed compound, and counts each', () => {
    const sender = new SrtcpSender(masterKey, masterSalt);
    const receiver = new SrtcpReceiver(masterKey, masterSalt);
    const sent = sender.protect(receiverReport);
    assert.ok(receiver.unprotect(sent).ok);
    assert.deepEqual(receiver.unprotect(sent), { ok: false, reason: 'replay' });
    const next = sender.protect(receiverReport);
    const flippedIndex = Buffer.from(next);
    flippedIndex[receiverReport.length + 3] ^= 0x02;
    assert.deepEqual(receiver.unprotect(flippedIndex), { ok: false, reason: 'auth' }, 'the index is authenticated');
    const clearedE = Buffer.from(next);
    clearedE[receiverReport.length] &= 0x7f;
    assert.deepEqual(receiver.unprotect(clearedE), { ok: false, reason: 'auth' }, 'so is the E flag');
    const other = new SrtcpSender(hex('00112233445566778899aabbccddeeff'), masterSalt).protect(receiverReport);
    assert.deepEqual(receiver.unprotect(other), { ok: false, reason: 'replay' }, 'index 0 again: refused before its tag is even checked');
    assert.deepEqual(receiver.unprotect(receiverReport.subarray(0, 12)), { ok: false, reason: 'malformed' });
    assert.ok(receiver.unprotect(next).ok, 'the real one still opens after the forgeries');
    assert.deepEqual(receiver.counters, { malformed: 1, authFailed: 2, replayed: 2 });
  });

  it('drops a compound older than the window, and keeps SSRCs apart', () => {
    const sender = new SrtcpSender(masterKey, masterSalt);
    const receiver = new SrtcpReceiver(masterKey, masterSalt);
    const compounds = Array.from({ length: 70 }, () => sender.protect(receiverReport));
    assert.ok(receiver.unprotect(compounds[69]).ok);
    assert.deepEqual(receiver.unprotect(compounds[2]), { ok: false, reason: 'replay' }, '67 behind');
    assert.ok(receiver.unprotect(compounds[10]).ok, '59 behind');
    const otherSource = Buffer.from(receiverReport);
    otherSource.writeUInt32BE(0x01020304, 4);
    assert.ok(receiver.unprotect(sender.protect(otherSource)).ok, 'index 0 of another SSRC');
  });
});
