// Framing SIP over TCP (RFC 3261 18.3) with STUN messages between them (RFC 5626 keep-alives,
// RFC 8489 over TCP): each comes out whole, in order, however the bytes are split.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamFramer } from '../../../native/transport/sip-sockets.js';
import { BINDING, looksLikeStun, serializeStun } from '../../../native/wire/stun/message.js';

const SIP = Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4\r\n\r\nbody');
const STUN = serializeStun({ method: BINDING, klass: 'request', transactionId: Buffer.alloc(12, 9), attributes: [] }, { fingerprint: true });

describe('stream framing with STUN', () => {
  it('splits SIP, CRLF keep-alives and STUN, byte by byte', () => {
    const stream = Buffer.concat([SIP, Buffer.from('\r\n\r\n'), STUN, SIP]);
    const framer = new StreamFramer(65_535);
    const out: Buffer[] = [];
    for (const byte of stream) {
      const result = framer.push(Buffer.from([byte]));
      assert.equal(result.error, undefined);
      out.push(...result.messages);
    }
    assert.deepEqual(out.map((m) => (looksLikeStun(m) ? 'stun' : m.toString())), [SIP.toString(), 'stun', SIP.toString()]);
  });

  it('closes a stream that starts like STUN without the magic cookie', () => {
    const framer = new StreamFramer(65_535);
    assert.equal(framer.push(Buffer.from('000100000000000000000000', 'hex')).error, 'neither SIP nor STUN');
  });
});
