import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HmacSha1 } from '../../../native/wire/crypto/hmac-sha1.js';

function ours(key: Buffer, a: Buffer, b: Buffer = Buffer.alloc(0), bytes = 20): Buffer {
  const out = Buffer.alloc(bytes);
  new HmacSha1(key).digestInto(a, b, out, 0, bytes);
  return out;
}

describe('HMAC-SHA1 without allocation per packet', () => {
  it('gives RFC 2202\'s test vectors', () => {
    assert.equal(ours(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')).toString('hex'), 'b617318655057264e28bc0b6fb378c8ef146be00');
    assert.equal(ours(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    assert.equal(ours(Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd)).toString('hex'), '125d7342b9ac11cd91a39af48aa17b4f63f175d3');
  });

  it('matches node:crypto over every length from 0 to 300 bytes, split anywhere, with one object reused', () => {
    const key = randomBytes(20);
    const hmac = new HmacSha1(key);
    const out = Buffer.alloc(20);
    for (let length = 0; length <= 300; length++) {
      const message = randomBytes(length);
      const split = Math.floor(Math.random() * (length + 1));
      hmac.digestInto(message.subarray(0, split), message.subarray(split), out, 0);
      assert.deepEqual(out, createHmac('sha1', key).update(message).digest(), `length ${length}, split at ${split}`);
    }
  });

  it('verifies an 80-bit tag in constant time, and refuses a changed one', () => {
    const key = randomBytes(20);
    const hmac = new HmacSha1(key);
    const packet = randomBytes(172);
    const roc = Buffer.from([0, 0, 0, 1]);
    const tag = createHmac('sha1', key).update(packet).update(roc).digest().subarray(0, 10);
    const scratch = Buffer.alloc(20);
    assert.equal(hmac.verifies(packet, roc, tag, scratch), true);
    tag[9] ^= 1;
    assert.equal(hmac.verifies(packet, roc, tag, scratch), false);
  });
});
