import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  counterIv,
  deriveSessionKeys,
  gcmIv,
  isSrtpSuite,
  SRTP_AUTH_TAG_BYTES,
  SRTP_SUITES,
  SrtcpReceiver,
  SrtcpSender,
  srtcpTransform,
  SrtpReceiver,
  SrtpSender,
  srtpTransform,
  type SrtpSessionKeys,
} from '../../../native/wire/srtp/srtp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
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

  it('decides replays as a plain list of everything seen would, across jumps of every size', () => {
    const sender = new SrtpSender(masterKey, masterSalt);
    const receiver = new SrtpReceiver(masterKey, masterSalt);
    const packets = Array.from({ length: 4000 }, (_, i) => sender.protect(rtp(i)));
    // Seeded, so a failure repeats: a cursor that mostly creeps forward, jumps ahead by up to
    // 100, and reaches back by up to 80 (across the 64-packet list and its 32-bit halves).
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const seen = new Set<number>();
    let highest = -1;
    let cursor = 0;
    for (let n = 0; n < 3000; n++) {
      const r = random();
      cursor = Math.min(3999, Math.max(0, r < 0.6 ? cursor + 1 : r < 0.8 ? cursor + Math.floor(random() * 100) : cursor - Math.floor(random() * 80)));
      const expectReplay = (highest >= 0 && cursor <= highest - 64) || seen.has(cursor);
      const outcome = receiver.unprotect(Buffer.from(packets[cursor]));
      assert.equal(outcome.ok, !expectReplay, `packet ${cursor} after highest ${highest}: ${JSON.stringify(outcome)}`);
      if (outcome.ok) {
        seen.add(cursor);
        highest = Math.max(highest, cursor);
      }
    }
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

const GCM = 'AEAD_AES_128_GCM';

// RFC 7714 16 and 17 state their vectors with the session key and salt (no master key).
const vectorKeys: SrtpSessionKeys = { encryption: hex('000102030405060708090a0b0c0d0e0f'), auth: Buffer.alloc(0), salt: hex('517569642070726f2071756f') };
/** RFC 7714 16: "Gallia est omnis divisa in partes tres", SSRC 0x5501a0b2, sequence number 0xf17b, ROC 0. */
const vectorRtp = hex('8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573');
const vectorSrtp = hex(
  '8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833' + '899d7f27 beb16a91 52cf765e e4390cce',
);
/** RFC 7714 17: a sender report from SSRC "Mars", SRTCP index 0x5d4. */
const vectorRtcp = hex('81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef');
const vectorSrtcp = hex(
  '81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458' +
    '96cf4d2f c5abf872 45d9eade' + '800005d4',
);
/** The same compound authenticated only (E = 0): all of it is AAD, the tag follows, then the index. */
const vectorSrtcpClear = Buffer.concat([vectorRtcp, hex('841dd968 3dd78ec9 2ae58790 125f62b3 000005d4')]);

// A GCM master key and 12-byte salt, and the packets libsrtp's srtp_validate_gcm (test/srtp_driver.c)
// makes from them: the RFC 7714 11 key derivation, end to end.
const gcmMasterKey = hex('000102030405060708090a0b0c0d0e0f');
const gcmMasterSalt = hex('a0a1a2a3a4a5a6a7a8a9aaab');

describe('SRTP AEAD_AES_128_GCM (RFC 7714)', () => {
  it('names its sizes: a 16-byte master key, a 12-byte master salt, a 16-byte tag', () => {
    assert.deepEqual(SRTP_SUITES[GCM], { masterKeyBytes: 16, masterSaltBytes: 12, tagBytes: 16 });
    assert.deepEqual(SRTP_SUITES.AES_CM_128_HMAC_SHA1_80, { masterKeyBytes: 16, masterSaltBytes: 14, tagBytes: 10 });
    assert.ok(isSrtpSuite(GCM) && isSrtpSuite('AES_CM_128_HMAC_SHA1_80'));
    assert.ok(!isSrtpSuite('AES_256_CM_HMAC_SHA1_80') && !isSrtpSuite('toString'));
    assert.throws(() => new SrtpSender(gcmMasterKey, hex('0ec675ad498afeebb6960b3aabe6'), GCM), /master salt is 12 bytes/);
    assert.throws(() => new SrtpReceiver(gcmMasterKey, gcmMasterSalt), /master salt is 14 bytes/, 'the default suite is still AES-CM');
    const keys = deriveSessionKeys(gcmMasterKey, gcmMasterSalt, 'rtp', GCM);
    assert.equal(keys.encryption.length, 16);
    assert.equal(keys.salt.length, 12, 'a 96-bit session salt');
    assert.equal(keys.auth.length, 0, 'GCM needs no HMAC key');
  });

  it('builds the IVs of 8.1 and 9.1 for the vectors of sections 16 and 17', () => {
    assert.equal(gcmIv(vectorKeys.salt, 0x5501a0b2, 0xf17b).toString('hex'), '51753c6580c2726f20718414');
    assert.equal(gcmIv(vectorKeys.salt, 0x4d617273, 0x5d4).toString('hex'), '517524055203726f207170bb');
    // 0x0000 || SSRC || ROC || SEQ: the 48-bit index (ROC || SEQ) takes the last 6 bytes.
    assert.equal(gcmIv(Buffer.alloc(12), 0x01020304, 0x0a0b0c0d0e0f).toString('hex'), '0000' + '01020304' + '0a0b0c0d0e0f');
  });

  it('encrypts and decrypts the SRTP packet of 16.1, the header as AAD', () => {
    const transform = srtpTransform(GCM, vectorKeys);
    assert.deepEqual(transform.protect(vectorRtp, 12, 0x5501a0b2, 0xf17b), vectorSrtp);
    const received = Buffer.from(vectorSrtp);
    const body = received.subarray(0, vectorRtp.length);
    assert.ok(transform.unprotect(body, received.subarray(vectorRtp.length), 12, 0x5501a0b2, 0xf17b));
    assert.deepEqual(body, vectorRtp);
    const forged = Buffer.from(vectorSrtp);
    forged[1] ^= 0x01;
    assert.ok(!transform.unprotect(forged.subarray(0, vectorRtp.length), forged.subarray(vectorRtp.length), 12, 0x5501a0b2, 0xf17b), 'the header is authenticated');
    assert.ok(!transform.unprotect(Buffer.from(vectorSrtp).subarray(0, vectorRtp.length), vectorSrtp.subarray(vectorRtp.length), 12, 0x5501a0b2, 0x1f17b), 'so is the ROC');
  });

  it('encrypts, decrypts and (E = 0) authenticates the SRTCP compound of 17.1, tag before the index', () => {
    const transform = srtcpTransform(GCM, vectorKeys);
    assert.deepEqual(transform.protect(vectorRtcp, 0x4d617273, 0x5d4), vectorSrtcp);
    assert.equal(transform.indexAt(vectorSrtcp.length), vectorSrtcp.length - 4);
    assert.deepEqual(transform.unprotect(vectorSrtcp, 0x4d617273, 0x800005d4), vectorRtcp);
    assert.deepEqual(transform.unprotect(vectorSrtcpClear, 0x4d617273, 0x000005d4), vectorRtcp);
    const tampered = Buffer.from(vectorSrtcpClear);
    tampered[20] ^= 0x40;
    assert.equal(transform.unprotect(tampered, 0x4d617273, 0x000005d4), undefined, 'E = 0 still authenticates every byte');
  });

  it('derives its session keys from a 12-byte master salt as libsrtp does (RFC 7714 11), RTP and RTCP', () => {
    const plain = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
    const libsrtpRtp = hex('800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392');
    assert.deepEqual(new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM).protect(plain), libsrtpRtp);
    const opened = new SrtpReceiver(gcmMasterKey, gcmMasterSalt, GCM).unprotect(Buffer.from(libsrtpRtp));
    assert.ok(opened.ok && opened.rtp.equals(plain));

    const report = hex('81c8000bcafebabe' + 'ab'.repeat(16));
    // libsrtp's first SRTCP index is 1, ours 0: its packet is our second.
    const libsrtpRtcp = hex('81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001');
    const sender = new SrtcpSender(gcmMasterKey, gcmMasterSalt, GCM);
    sender.protect(report);
    assert.deepEqual(sender.protect(report), libsrtpRtcp);
    const back = new SrtcpReceiver(gcmMasterKey, gcmMasterSalt, GCM).unprotect(libsrtpRtcp);
    assert.ok(back.ok && back.rtcp.equals(report) && back.index === 1);
  });

  it('round-trips a packet with CSRCs and a header extension, which stay in the clear', () => {
    const sender = new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const plain = rtp(7, 1, Buffer.concat([hex('00000001'), hex('bede0001'), hex('10ff0000')]));
    plain[0] = 0x80 | 0x10 | 1;
    const sent = sender.protect(plain);
    assert.equal(sent.length, plain.length + 16);
    assert.deepEqual(sent.subarray(0, 24), plain.subarray(0, 24));
    assert.notDeepEqual(sent.subarray(24, plain.length), plain.subarray(24));
    const back = receiver.unprotect(Buffer.from(sent));
    assert.ok(back.ok && back.rtp.equals(plain));
  });

  it('refuses a packet tampered in its header, payload or tag, leaves it as it came, and counts each', () => {
    const sender = new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const sent = sender.protect(rtp(42));
    for (const at of [6, 40, sent.length - 1]) {
      const tampered = Buffer.from(sent);
      tampered[at] ^= 0x01;
      const before = Buffer.from(tampered);
      assert.deepEqual(receiver.unprotect(tampered), { ok: false, reason: 'auth' }, `byte ${at}`);
      assert.deepEqual(tampered, before, 'no unauthenticated plaintext written over it');
    }
    const cmSalt = Buffer.concat([gcmMasterSalt, hex('0000')]);
    assert.equal(new SrtpReceiver(gcmMasterKey, cmSalt).unprotect(Buffer.from(sent)).ok, false, 'an AES-CM receiver cannot open it');
    assert.deepEqual(receiver.unprotect(Buffer.alloc(12 + 15)), { ok: false, reason: 'malformed' }, 'shorter than a header and a GCM tag');
    assert.ok(receiver.unprotect(Buffer.from(sent)).ok, 'the forgeries did not spend its index');
    assert.deepEqual(receiver.counters, { malformed: 1, authFailed: 3, replayed: 0 });
  });

  it('refuses a replayed packet and one older than the replay list; takes reordered ones once', () => {
    const sender = new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const packets = Array.from({ length: 100 }, (_, i) => sender.protect(rtp(i)));
    for (const i of [0, 3, 1, 2]) assert.ok(receiver.unprotect(Buffer.from(packets[i])).ok, `packet ${i}`);
    assert.deepEqual(receiver.unprotect(Buffer.from(packets[2])), { ok: false, reason: 'replay' });
    for (let i = 4; i < 100; i++) assert.ok(receiver.unprotect(Buffer.from(packets[i])).ok);
    assert.deepEqual(receiver.unprotect(Buffer.from(packets[99])), { ok: false, reason: 'replay' });
    assert.deepEqual(receiver.unprotect(Buffer.from(packets[30])), { ok: false, reason: 'replay' }, 'older than 64 packets');
    assert.deepEqual(receiver.counters, { malformed: 0, authFailed: 0, replayed: 3 });
  });

  it('round-trips across the sequence number wrap 65535 -> 0, the ROC in the IV (8.1, RFC 3711 3.3.1)', () => {
    const sender = new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const seqs = [65533, 65534, 65535, 0, 1, 2];
    const packets = new Map(seqs.map((s) => [s, sender.protect(rtp(s))]));
    const indexes: number[] = [];
    for (const s of [65533, 65535, 0, 65534, 2, 1]) {
      const back = receiver.unprotect(Buffer.from(packets.get(s)!));
      assert.ok(back.ok, `seq ${s}`);
      assert.deepEqual(back.rtp, rtp(s));
      indexes.push(back.index);
    }
    assert.deepEqual(indexes, [65533, 65535, 65536, 65534, 65538, 65537]);
    const rocZero = new SrtpSender(gcmMasterKey, gcmMasterSalt, GCM).protect(rtp(3));
    assert.deepEqual(receiver.unprotect(rocZero), { ok: false, reason: 'auth' }, 'a packet sealed with ROC 0 after the wrap');
    const rocOne = sender.protect(rtp(3));
    const back = receiver.unprotect(rocOne);
    assert.ok(back.ok && back.index === 65539);
  });
});

describe('SRTCP AEAD_AES_128_GCM (RFC 7714 9)', () => {
  it('encrypts all but the first 8 bytes, then the tag, then E and the index', () => {
    const sender = new SrtcpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtcpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const first = sender.protect(receiverReport);
    const second = sender.protect(receiverReport);
    assert.equal(first.length, receiverReport.length + 16 + 4);
    assert.deepEqual(first.subarray(0, 8), receiverReport.subarray(0, 8));
    assert.notDeepEqual(first.subarray(8, receiverReport.length), receiverReport.subarray(8));
    assert.equal(first.readUInt32BE(first.length - 4), 0x80000000, 'E set, index 0');
    assert.equal(second.readUInt32BE(second.length - 4), 0x80000001, 'index 1');
    const back = receiver.unprotect(second);
    assert.ok(back.ok && back.rtcp.equals(receiverReport) && back.index === 1);
    assert.ok(receiver.unprotect(first).ok, 'an older compound inside the window');
  });

  it('refuses a replayed compound, a changed index or E flag (both AAD), and counts each', () => {
    const sender = new SrtcpSender(gcmMasterKey, gcmMasterSalt, GCM);
    const receiver = new SrtcpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    const sent = sender.protect(receiverReport);
    assert.ok(receiver.unprotect(sent).ok);
    assert.deepEqual(receiver.unprotect(sent), { ok: false, reason: 'replay' });
    const next = sender.protect(receiverReport);
    const flippedIndex = Buffer.from(next);
    flippedIndex[next.length - 1] ^= 0x02;
    assert.deepEqual(receiver.unprotect(flippedIndex), { ok: false, reason: 'auth' });
    const clearedE = Buffer.from(next);
    clearedE[next.length - 4] &= 0x7f;
    assert.deepEqual(receiver.unprotect(clearedE), { ok: false, reason: 'auth' });
    assert.deepEqual(receiver.unprotect(receiverReport.subarray(0, 27)), { ok: false, reason: 'malformed' });
    assert.ok(receiver.unprotect(next).ok);
    assert.deepEqual(receiver.counters, { malformed: 1, authFailed: 2, replayed: 1 });
  });

  it('survives an index that jumps across the whole space, and replays still fail after it', () => {
    const keys = deriveSessionKeys(gcmMasterKey, gcmMasterSalt, 'rtcp', GCM);
    const far = srtcpTransform(GCM, keys).protect(receiverReport, 0xdeadbeef, 0x7fffffff);
    const receiver = new SrtcpReceiver(gcmMasterKey, gcmMasterSalt, GCM);
    assert.ok(receiver.unprotect(new SrtcpSender(gcmMasterKey, gcmMasterSalt, GCM).protect(receiverReport)).ok);
    const started = Date.now();
    const back = receiver.unprotect(far);
    assert.ok(back.ok && back.index === 0x7fffffff);
    assert.ok(Date.now() - started < 1000, 'the replay list is not shifted bit by bit across the jump');
    assert.deepEqual(receiver.unprotect(far), { ok: false, reason: 'replay' });
  });
});
