// How long an Opus packet is, from its TOC byte alone (RFC 6716 3.1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { opusPacketMs } from '../../../native/wire/audio/opus-toc.js';

const toc = (config: number, code: number) => (config << 3) | code;

describe('opus packet length', () => {
  it('reads-the-frame-length-of-each-mode', () => {
    assert.equal(opusPacketMs(Uint8Array.of(toc(1, 0))), 20, 'SILK narrowband 20 ms');
    assert.equal(opusPacketMs(Uint8Array.of(toc(11, 0))), 60, 'SILK wideband 60 ms');
    assert.equal(opusPacketMs(Uint8Array.of(toc(13, 0))), 20, 'hybrid super-wideband 20 ms');
    assert.equal(opusPacketMs(Uint8Array.of(toc(31, 0))), 20, 'CELT fullband 20 ms');
    assert.equal(opusPacketMs(Uint8Array.of(toc(16, 0))), 2.5, 'CELT narrowband 2.5 ms');
  });

  it('counts-two-frames-for-codes-1-and-2-and-the-given-count-for-code-3', () => {
    assert.equal(opusPacketMs(Uint8Array.of(toc(31, 1), 0, 0)), 40);
    assert.equal(opusPacketMs(Uint8Array.of(toc(9, 2), 1, 0)), 40);
    assert.equal(opusPacketMs(Uint8Array.of(toc(31, 3), 3, 0)), 60);
  });

  it('cannot-tell-an-empty-packet-or-a-code-3-packet-without-its-count', () => {
    assert.equal(opusPacketMs(new Uint8Array(0)), undefined);
    assert.equal(opusPacketMs(Uint8Array.of(toc(31, 3))), undefined);
    assert.equal(opusPacketMs(Uint8Array.of(toc(31, 3), 0)), undefined);
  });
});
