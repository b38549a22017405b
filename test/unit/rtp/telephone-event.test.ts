// RFC 4733 DTMF: the pad keys map to events 0-15 and back, the 4-octet payload round-trips,
// and the digit packets sipp captured read as the keys they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRtpPacket, SequenceTracker, type RtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { dtmfCharForEvent, dtmfEventForChar, parseTelephoneEvent, serializeTelephoneEvent } from '../../../native/wire/rtp/telephone-event.js';
import { capturedPackets } from './fixtures.js';

describe('DTMF key mapping', () => {
  it('maps-the-sixteen-pad-keys-to-rfc-4733-events-and-back', () => {
    const keys = '0123456789*#ABCD';
    [...keys].forEach((key, event) => {
      assert.equal(dtmfEventForChar(key), event);
      assert.equal(dtmfCharForEvent(event), key);
    });
    assert.equal(dtmfEventForChar('*'), 10);
    assert.equal(dtmfEventForChar('#'), 11);
    assert.equal(dtmfEventForChar('d'), 15);
  });

  it('has-no-key-for-non-dtmf-events-or-other-characters', () => {
    assert.equal(dtmfCharForEvent(16), undefined);
    assert.equal(dtmfCharForEvent(-1), undefined);
    assert.equal(dtmfCharForEvent(1.5), undefined);
    assert.equal(dtmfEventForChar('E'), undefined);
    assert.equal(dtmfEventForChar('12'), undefined);
    assert.equal(dtmfEventForChar(''), undefined);
  });
});

describe('telephone-event payload', () => {
  it('lays-out-event-end-volume-and-duration-as-rfc-4733-2-3', () => {
    const bytes = serializeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 1280 });
    assert.deepEqual([...bytes], [11, 0x80 | 10, 0x05, 0x00]);
    assert.deepEqual(parseTelephoneEvent(bytes), { event: 11, end: true, volume: 10, duration: 1280 });
  });

  it('round-trips-every-dtmf-event', () => {
    for (let event = 0; event < 16; event++) {
      const sent = { event, end: event % 2 === 0, volume: 63 - event, duration: event * 160 };
      assert.deepEqual(parseTelephoneEvent(serializeTelephoneEvent(sent)), sent);
    }
  });

  it('ignores-the-reserved-bit-and-clamps-what-does-not-fit', () => {
    assert.deepEqual(parseTelephoneEvent(Buffer.from([5, 0x40 | 7, 0, 160])), { event: 5, end: false, volume: 7, duration: 160 });
    assert.deepEqual(parseTelephoneEvent(serializeTelephoneEvent({ event: 1, end: false, volume: 99, duration: 70_000 })), { event: 1, end: false, volume: 63, duration: 65535 });
  });

  it('refuses-a-payload-shorter-than-four-octets', () => {
    assert.equal(parseTelephoneEvent(Buffer.from([1, 2, 3])), undefined);
  });
});

function rtp(datagram: Buffer): RtpPacket {
  const outcome = parseRtpPacket(datagram);
  assert.ok(outcome.ok);
  return outcome.packet;
}

for (const { prefix, key } of [{ prefix: 'dtmf-1', key: '1' }, { prefix: 'dtmf-pound', key: '#' }]) {
  describe(`DTMF captured by sipp (${prefix})`, () => {
    const packets = capturedPackets(prefix, 10).map(rtp);
    const events = packets.map((p) => parseTelephoneEvent(p.payload)!);

    it(`reads-every-packet-as-key-${key}-on-dynamic-payload-type-101`, () => {
      for (const packet of packets) assert.equal(packet.payloadType, 101);
      for (const event of events) assert.equal(dtmfCharForEvent(event.event), key);
    });

    it('marks-only-the-first-packet-and-keeps-one-timestamp-for-the-whole-event', () => {
      // RFC 4733 2.5.1.2/2.5.1.3: the event's timestamp is its start; updates grow the duration.
      assert.deepEqual(packets.map((p) => p.marker), [true, false, false, false, false, false, false, false, false, false]);
      for (const packet of packets) assert.equal(packet.timestamp, packets[0].timestamp);
    });

    it('grows-the-duration-by-160-per-update-and-sends-the-end-three-times', () => {
      assert.deepEqual(events.map((e) => e.duration), [0, 320, 640, 960, 1280, 1600, 1920, 2240, 2240, 2240]);
      assert.deepEqual(events.map((e) => e.end), [false, false, false, false, false, false, false, true, true, true]);
      for (const event of events) assert.equal(event.volume, 10);
    });

    it('sees-the-repeated-end-packets-as-duplicates-not-loss', () => {
      const tracker = new SequenceTracker();
      const verdicts = packets.map((p) => tracker.update(p.sequenceNumber));
      assert.deepEqual(verdicts.slice(-2), ['duplicate-or-late', 'duplicate-or-late']);
      assert.equal(tracker.extendedHighest, packets[7].sequenceNumber);
    });

    it('writes-each-payload-back-byte-for-byte', () => {
      packets.forEach((p, i) => assert.deepEqual(serializeTelephoneEvent(events[i]), p.payload));
    });
  });
}
