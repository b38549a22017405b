// TURN over TCP (RFC 8656 3.1): one byte stream carries STUN messages and ChannelData messages
// back to back. This cuts it into whole messages for TurnClient.receive(). RFC 7983: a STUN
// message starts with two zero bits, ChannelData with 0x40-0x4F (channels 0x4000-0x4FFF).
import { MAGIC_COOKIE, stunLengthOnStream } from '../../wire/stun/message.js';
import { channelDataLengthOnStream } from '../../wire/stun/turn.js';

export class TurnStreamReader {
  private buffered: Buffer = Buffer.alloc(0);
  /**
   * Set when the stream carried something that is neither: a stream has no message boundaries
   * to resynchronise on, so the caller should close the connection.
   */
  error?: string;

  /** Feeds a chunk from the connection; returns the messages it completed, in order. */
  push(chunk: Buffer): Buffer[] {
    if (this.error) return [];
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const messages: Buffer[] = [];
    for (;;) {
      const length = this.nextLength();
      if (length === undefined || this.buffered.length < length) break;
      messages.push(this.buffered.subarray(0, length));
      this.buffered = this.buffered.subarray(length);
    }
    return messages;
  }

  /** Bytes waiting for the rest of their message. */
  get pending(): number {
    return this.buffered.length;
  }

  private nextLength(): number | undefined {
    const b = this.buffered;
    if (b.length < 4) return undefined;
    if (b[0] < 0x40) {
      // RFC 8489 5: the length counts 4-byte-aligned attributes, and the cookie follows it.
      if (b.readUInt16BE(2) % 4 !== 0) return this.broken('a STUN length that is not a multiple of four');
      if (b.length >= 8 && b.readUInt32BE(4) !== MAGIC_COOKIE) return this.broken('a STUN header without the magic cookie');
      return stunLengthOnStream(b);
    }
    // RFC 8656 12.5: over a stream, ChannelData is padded to a multiple of four bytes.
    if (b[0] <= 0x4f) return channelDataLengthOnStream(b);
    return this.broken(`a message starting with 0x${b[0].toString(16)}, neither STUN nor ChannelData`);
  }

  private broken(why: string): undefined {
    this.error = `the TURN stream carried ${why}`;
    this.buffered = Buffer.alloc(0);
    return undefined;
  }
}
