// Writes the seed corpora under test/fuzz/corpus/ from our own encoders, so every target starts
// from messages that pass its parser (signed ones with keys made here, dated SEED_NOW).
// Captured traffic (test/fixtures/rfc4475, test/fixtures/rtp) is read in place as extra seeds.
// Run again after a wire format changes: `node --import tsx test/fuzz/support/make-seeds.ts`.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeLocationItem } from '../../../native/wire/dht/location-item.js';
import { encodeFarmMessage } from '../../../native/wire/farm/farm-message.js';
import { serializeIsComposing } from '../../../native/wire/im/is-composing.js';
import { encodeReceipt } from '../../../native/wire/im/receipt.js';
import { packVoice } from '../../../native/wire/im/voice-message.js';
import { encodeConfigOffer, signConfigOffer } from '../../../native/wire/lan/config-offer.js';
import { signRecord, type UnsignedRecord } from '../../../native/wire/overlay/record.js';
import { encodeMapRequest } from '../../../native/wire/pcp/message.js';
import { encodeBuddyMessage } from '../../../native/wire/presence/buddy-message.js';
import { buildPidf } from '../../../native/wire/presence/pidf.js';
import { signCredentialRequest } from '../../../native/wire/relay/credential.js';
import { encodeDsrp, originIdOf, signDsrp } from '../../../native/wire/rescue/dsrp.js';
import { contentDigest } from '../../../native/wire/rescue/http-signature.js';
import { serializeRtcpCompound } from '../../../native/wire/rtp/rtcp.js';
import { serializeRtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { serializeTelephoneEvent } from '../../../native/wire/rtp/telephone-event.js';
import { createOffer } from '../../../native/wire/sdp/audio-offer-answer.js';
import { newCrypto } from '../../../native/wire/sdp/sdes.js';
import { SRTP_SUITES, SrtcpSender, SrtpSender } from '../../../native/wire/srtp/srtp.js';
import { ATTR, BINDING, encodeXorAddress, serializeStun } from '../../../native/wire/stun/message.js';
import { shortTermKey } from '../../../native/wire/stun/integrity.js';
import { encodeChannelData } from '../../../native/wire/stun/turn.js';
import { CORPUS_DIR } from './jazzer-run.js';
import { SEED_NOW } from './seed-time.js';

const seeds: Record<string, Record<string, string | Buffer>> = {};
const put = (target: string, name: string, bytes: string | Buffer) => ((seeds[target] ??= {})[name] = bytes);

const ed = generateKeyPairSync('ed25519');
const rawKey = ed.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
const pkcs8 = ed.privateKey.export({ format: 'der', type: 'pkcs8' });
const owner = rawKey.toString('base64url');
const key40 = 'a'.repeat(40);

const sip = (lines: string[], body = '') => [...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
const via = 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds';
put('sip-message', 'options.sip', sip(['OPTIONS sip:bob@example.test SIP/2.0', via, 'Max-Forwards: 70', 'To: <sip:bob@example.test>', 'From: <sip:alice@example.test>;tag=1928301774', 'Call-ID: a84b4c76e66710', 'CSeq: 63104 OPTIONS']));
put('sip-message', 'register-digest.sip', sip(['REGISTER sip:example.test SIP/2.0', via, 'Max-Forwards: 70', 'To: <sip:alice@example.test>', 'From: <sip:alice@example.test>;tag=456', 'Call-ID: reg1', 'CSeq: 2 REGISTER', 'Contact: <sip:alice@192.0.2.1:5060>;expires=3600', 'Authorization: Digest username="alice", realm="example.test", nonce="abc", uri="sip:example.test", response="0123456789abcdef0123456789abcdef", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="xyz"']));
put('sip-message', 'notify-mwi.sip', sip(['NOTIFY sip:alice@192.0.2.1 SIP/2.0', via, 'Max-Forwards: 70', 'To: <sip:alice@example.test>;tag=1', 'From: <sip:vm@example.test>;tag=2', 'Call-ID: mwi1', 'CSeq: 3 NOTIFY', 'Event: message-summary', 'Subscription-State: active;expires=3600', 'Content-Type: application/simple-message-summary'], 'Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.test\r\nVoice-Message: 2/8 (0/2)\r\n'));
put('sip-message', 'response.sip', sip(['SIP/2.0 200 OK', via, 'To: <sip:bob@example.test>;tag=99', 'From: <sip:alice@example.test>;tag=1928301774', 'Call-ID: a84b4c76e66710', 'CSeq: 63104 OPTIONS']));

const local = { address: '192.0.2.1', port: 40000, codecs: ['opus', 'PCMU', 'PCMA', 'G722'] as Array<'opus' | 'PCMU' | 'PCMA' | 'G722'>, telephoneEvent: true, direction: 'sendrecv' as const };
put('sdp', 'offer-plain.sdp', createOffer(local));
put('sdp', 'offer-sdes.sdp', createOffer({ ...local, sdes: [newCrypto(1, 'AES_CM_128_HMAC_SHA1_80'), newCrypto(2, 'AEAD_AES_128_GCM')] }));
put('sdp', 'offer-ice.sdp', createOffer({ ...local, ice: { ufrag: 'abcd', pwd: 'abcdefghijklmnopqrstuv', candidates: [], defaultCandidate: { address: '192.0.2.1', port: 40000 } } }));
put('sdp', 'offer-dtls.sdp', 'v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5004 UDP/TLS/RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=setup:actpass\r\na=fingerprint:sha-256 ' + Array(32).fill('AB').join(':') + '\r\na=rtcp-mux\r\na=sendrecv\r\n');

put('rtp', 'pcmu.rtp', serializeRtpPacket({ payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 0x1234, payload: Buffer.alloc(160, 0xff), marker: true }));
put('rtp', 'extension-csrc-padding.rtp', serializeRtpPacket({ payloadType: 111, sequenceNumber: 65535, timestamp: 1, ssrc: 7, csrcs: [1, 2], extension: { profile: 0xbede, data: Buffer.alloc(8, 1) }, payload: Buffer.from([0x78, 1, 2]), paddingLength: 4 }));
put('rtp', 'dtmf.rtp', serializeRtpPacket({ payloadType: 101, sequenceNumber: 9, timestamp: 800, ssrc: 7, payload: serializeTelephoneEvent({ event: 5, end: true, volume: 10, duration: 800 }) }));
put('rtp', 'sr-sdes-bye.rtcp', serializeRtcpCompound({ type: 'sr', ssrc: 7, sender: { ntpSeconds: 1, ntpFraction: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 }, reports: [{ ssrc: 8, fractionLost: 0, cumulativeLost: 1, highestSequence: 2, jitter: 3, lastSenderReport: 4, delaySinceLastSenderReport: 5 }] } as Parameters<typeof serializeRtcpCompound>[0], 'alice@example.test', { reason: 'bye' }));

put('presence', 'pidf.xml', buildPidf({ entity: 'sip:alice@example.test', status: 'away', note: 'back at 3 & <soon>', at: SEED_NOW }));
put('presence', 'buddy.json', encodeBuddyMessage({ v: 1, type: 'request', from: 'sip:alice@example.test', to: 'sip:bob@example.test', displayName: 'Alice', note: 'hi', publicKey: owner, at: SEED_NOW }));

const node = `{"id":"${key40}","host":"192.0.2.1","port":5060}`;
const contact = `sip:${key40}@192.0.2.1:5060`;
put('overlay-messages', 'ping', `ping ${contact}\n{"stabilize":true,"successor":${node}}`);
put('overlay-messages', 'find-closest', `find-closest ${contact}\n{"key":"${key40}","avoid":["${'b'.repeat(40)}"]}`);
put('overlay-messages', 'neighbours', `neighbours ${contact}\n{"predecessor":${node},"successors":[${node}],"digest":"01234567"}`);
put('overlay-messages', 'leave', `leave ${contact}\n{"node":${node},"predecessor":${node},"successors":[${node}]}`);
put('overlay-messages', 'lookup', `lookup ${contact}\n{"node":${node},"successors":[${node}],"hops":3}`);

const base = { key: key40, owner, seq: 1, expires: SEED_NOW + 3_600_000 };
const records: UnsignedRecord[] = [
  { ...base, type: 'name', slot: '', value: { user: 'alice', overlay: 'example.test', x25519: owner, voicemail: true } },
  { ...base, type: 'binding', slot: key40, value: { user: 'alice', overlay: 'example.test', contact: 'sip:alice@192.0.2.1:5060', tls: { port: 5061, certificate: 'sha-256 ' + Array(32).fill('AB').join(':') } } },
  { ...base, type: 'service', slot: key40, value: { user: 'alice', overlay: 'example.test', contact: 'sip:n@192.0.2.1', url: 'http://192.0.2.1:8080', headroom: 3 } },
] as UnsignedRecord[];
for (const r of records) put('overlay-record', `${r.type}.json`, JSON.stringify(signRecord(r, pkcs8)));

const sos = signDsrp({ dsrp: 1, type: 'sos', origin: originIdOf(rawKey), key: owner, at: SEED_NOW, site: 'https://site.example', upstream: 'http://192.0.2.1:8080', sip: 'sip:o@192.0.2.1', wantRps: 100, meanBytes: 2000, peers: ['http://192.0.2.2:80'] } as never, rawKey, pkcs8);
put('rescue-dsrp', 'sos.json', encodeDsrp(sos));
put('rescue-dsrp', 'signature-fields', `rescue=("@status" "@path";req "@query";req "content-digest");created=${SEED_NOW / 1000};keyid="k";alg="ed25519"\nrescue=:${Buffer.alloc(64, 1).toString('base64')}:`);
put('rescue-dsrp', 'content-digest', `${contentDigest(Buffer.from('body'))}\nbody`);

const txid = Buffer.from('0123456789ab');
const binding = { method: BINDING, klass: 'request' as const, transactionId: txid, attributes: [{ type: ATTR.USERNAME, value: Buffer.from('a:b') }, { type: ATTR.PRIORITY, value: Buffer.from([0, 0, 1, 0]) }] };
put('stun', 'binding-request.stun', serializeStun(binding, { integrityKey: shortTermKey('fuzz-password'), fingerprint: true }));
put('stun', 'binding-success.stun', serializeStun({ method: BINDING, klass: 'success', transactionId: txid, attributes: [{ type: ATTR.XOR_MAPPED_ADDRESS, value: encodeXorAddress({ family: 'IPv4', address: '192.0.2.1', port: 5060 } as never, txid) }] }));
put('stun', 'channel-data', encodeChannelData(0x4000, Buffer.from('hello'), true));

put('pcp', 'map-request-as-response', (() => {
  const b = encodeMapRequest({ nonce: Buffer.alloc(12, 1), protocol: 'udp', internalPort: 5060, suggestedPort: 5060, lifetime: 7200, clientAddress: '192.0.2.1' });
  b[1] |= 0x80;
  return b;
})());
put('pcp', 'nat-pmp', Buffer.from([0, 130, 0, 0, 0, 0, 0, 1, 19, 196, 19, 196, 0, 0, 28, 32]));

put('dht', 'ping.krpc', 'd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
put('dht', 'get-response.krpc', 'd1:rd2:id20:abcdefghij01234567895:token8:aoeusnth1:vi3e3:seqi1ee1:t2:aa1:y1:re');
put('dht', 'location-item', encodeLocationItem({ user: 'alice', x25519: owner, bindings: [{ device: '0123456789abcdef', contact: 'sip:alice@192.0.2.1:5060', expires: SEED_NOW }] }).value);

put('lan', 'offer.json', encodeConfigOffer(signConfigOffer({ signer: { key: owner, name: 'office' }, version: 1, issuedAt: SEED_NOW, config: { overlay: 'example.test', bootstrap: ['192.0.2.1:5060'], stun: ['192.0.2.1:3478'], turn: [{ address: '192.0.2.1:3478', username: 'u', password: 'p' }], rescue: { enabled: true, donateMbit: 5 }, callerPolicy: 'buddies' } }, pkcs8)));

put('farm', 'join.json', encodeFarmMessage({ op: 'join', node: key40, x25519: owner }));
put('farm', 'sync.json', encodeFarmMessage({ op: 'sync', farm: 'f'.repeat(16), node: key40, sealed: Buffer.alloc(40, 9).toString('base64url') }));

put('relay', 'request.json', JSON.stringify(signCredentialRequest({ aor: 'sip:alice@example.test', member: key40, at: SEED_NOW }, rawKey, pkcs8)));
put('relay', 'grant.json', JSON.stringify({ relay: 1, type: 'credential', username: 'u', password: 'p', realm: 'r', expires: SEED_NOW, address: '192.0.2.1', port: 3478, transports: ['udp', 'tcp'] }));

put('im', 'composing.xml', serializeIsComposing({ state: 'active', refresh: 60, contentType: 'text/plain', lastActive: SEED_NOW }));
put('im', 'receipt.json', encodeReceipt({ kind: 'read', callIds: ['a@b', 'c@d'] }));
put('im', 'voice.bin', packVoice([Buffer.from([0x78, 1]), Buffer.alloc(60, 2)]));

const mk = Buffer.alloc(16, 1);
for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
  const ms = Buffer.alloc(SRTP_SUITES[suite].masterSaltBytes, 2);
  put('srtp', `${suite}.srtp`, new SrtpSender(mk, ms, suite).protect(serializeRtpPacket({ payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 0x1234, payload: Buffer.alloc(160, 0xff) })));
  put('srtp', `${suite}.srtcp`, new SrtcpSender(mk, ms, suite).protect(seeds.rtp['sr-sdes-bye.rtcp'] as Buffer));
}

// Hostile shapes the fuzzer would take long to grow: JSON nested 6,000 deep inside a message
// that passes every check before the signature (canonicalJson recursed into it and overflowed).
const deep = '['.repeat(6_000) + ']'.repeat(6_000);
const nestDeep = (json: string) => json.replace(/^\{/, `{"zz":${deep},`);
for (const [target, name] of [['relay', 'request.json'], ['rescue-dsrp', 'sos.json'], ['lan', 'offer.json'], ['overlay-record', 'name.json']] as const) {
  put(target, `deep-${name}`, nestDeep(seeds[target][name] as string));
}
put('overlay-messages', 'store-deep', `store ${contact}\n{"replica":false,"records":[${nestDeep(seeds['overlay-record']['name.json'] as string)}]}`);

for (const [target, files] of Object.entries(seeds)) {
  mkdirSync(path.join(CORPUS_DIR, target), { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(CORPUS_DIR, target, name), bytes);
}
console.log(`seeds written: ${Object.entries(seeds).map(([t, f]) => `${t} ${Object.keys(f).length}`).join(', ')}`);
