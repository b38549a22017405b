// RFC 4733 reception: each key press is reported once, whatever the network does to the
// repeated starts and the three end packets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtmfReceiver, type TelephoneEventPacket } from '../../../native/proto/media/dtmf-receiver.js';
import { planDtmfPackets } from '../../../native/proto/media/dtmf-sender.js';

const SSRC = 0xabcdef01;

function packetsFor(key: string, timestamp: number): TelephoneEventPacket[] {
  return planDtmfPackets(key).map((p) => ({ ssrc: SSRC, timestamp, marker: p.marker, event: p.event }));
}

function run(packets: TelephoneEventPacket[], receiver = new DtmfReceiver()): string[] {
  return packets.flatMap((p) => receiver.receive(p) ?? []);
}

describe('dtmf receiver', () => {
  it('reports-each-key-once-despite-three-end-packets', () => {
    assert.deepEqual(run([...packetsFor('1', 1000), ...packetsFor('2', 2000), ...packetsFor('3', 3000), ...packetsFor('#', 4000)]), ['1', '2', '3', '#']);
  });

  it('ignores-retransmitted-starts', () => {
    const [start, ...rest] = packetsFor('5', 1000);
    assert.deepEqual(run([start, start, start, ...rest]), ['5']);
  });

  it('reports-the-same-key-twice-when-pressed-twice', () => {
    assert.deepEqual(run([...packetsFor('7', 1000), ...packetsFor('7', 2000)]), ['7', '7']);
  });

  it('does-not-repeat-a-key-whose-end-packets-arrive-after-the-next-key-starts', () => {
    const one = packetsFor('1', 1000);
    const two = packetsFor('2', 2000);
    // The last two end packets of "1" are overtaken by the whole start of "2".
    const reordered = [...one.slice(0, 5), two[0], two[1], one[5], one[6], ...two.slice(2)];
    assert.deepEqual(run(reordered), ['1', '2']);
  });

  it('reports-a-key-whose-start-packets-were-all-lost', () => {
    const ends = packetsFor('9', 5000).filter((p) => p.event.end);
    assert.deepEqual(run(ends), ['9']);
  });

  it('reports-a-key-whose-first-packet-arrives-after-its-updates', () => {
    const packets = packetsFor('4', 1000);
    assert.deepEqual(run([packets[2], packets[0], packets[1], ...packets.slice(3)]), ['4']);
  });

  it('treats-a-new-segment-of-a-long-event-as-the-same-press', () => {
    // RFC 4733 2.5.1.3: the continuation has a new timestamp and no marker bit.
    const first: TelephoneEventPacket = { ssrc: SSRC, timestamp: 0, marker: true, event: { event: 0, end: false, volume: 10, duration: 0xffff } };
    const segment: TelephoneEventPacket = { ssrc: SSRC, timestamp: 0xffff, marker: false, event: { event: 0, end: false, volume: 10, duration: 160 } };
    const end: TelephoneEventPacket = { ...segment, event: { ...segment.event, end: true, duration: 320 } };
    assert.deepEqual(run([first, segment, end, end, end]), ['0']);
  });

  it('keeps-presses-from-two-sources-apart', () => {
    const other = packetsFor('8', 1000).map((p) => ({ ...p, ssrc: 42 }));
    assert.deepEqual(run([...packetsFor('8', 1000), ...other]), ['8', '8']);
  });

  it('reports-nothing-for-events-that-are-not-pad-keys', () => {
    const flash: TelephoneEventPacket = { ssrc: SSRC, timestamp: 1, marker: true, event: { event: 16, end: true, volume: 10, duration: 800 } };
    assert.deepEqual(run([flash, flash]), []);
  });
});
