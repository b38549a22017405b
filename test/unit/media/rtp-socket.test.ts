// The RTP/RTCP socket pair on real loopback sockets: an even port from the range with RTCP on
// the next one, RTCP recognised when multiplexed on the RTP port, and a clear error when the
// range is full.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import { NoFreeRtpPortError, RtpSocketPair, type RtcpArrival } from '../../../native/transport/rtp-socket.js';
import { serializeRtcpCompound } from '../../../native/wire/rtp/rtcp.js';
import { serializeRtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { freeEvenPortPair } from '../../support/udp-ports.js';

const opened: RtpSocketPair[] = [];
after(() => Promise.all(opened.map((p) => p.close())));

interface Heard {
  rtp: Buffer[];
  rtcp: { via: RtcpArrival; bytes: Buffer }[];
}

async function openPair(portRange?: [number, number]): Promise<{ pair: RtpSocketPair; heard: Heard }> {
  const heard: Heard = { rtp: [], rtcp: [] };
  const pair = await RtpSocketPair.open({
    bind: '127.0.0.1',
    portRange,
    onRtp: (bytes) => heard.rtp.push(bytes),
    onRtcp: (bytes, _from, via) => heard.rtcp.push({ via, bytes }),
  });
  opened.push(pair);
  return { pair, heard };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), 'timed out');
}

describe('rtp socket pair', () => {
  it('binds-an-even-rtp-port-in-range-with-rtcp-on-the-next', async () => {
    const { pair, heard } = await openPair([40000, 40100]);
    assert.equal(pair.port % 2, 0);
    assert.ok(pair.port >= 40000 && pair.port <= 40100);
    const rtp = serializeRtpPacket({ payloadType: 0, sequenceNumber: 1, timestamp: 0, ssrc: 1, payload: Buffer.alloc(160) });
    const rtcp = serializeRtcpCompound({ type: 'rr', ssrc: 1, reports: [] }, 'x');
    const sender = dgram.createSocket('udp4');
    sender.send(rtp, pair.port, '127.0.0.1');
    sender.send(rtcp, pair.port + 1, '127.0.0.1');
    sender.send(rtcp, pair.port, '127.0.0.1'); // RFC 5761: multiplexed
    await until(() => heard.rtp.length === 1 && heard.rtcp.length === 2);
    sender.close();
    assert.deepEqual(heard.rtcp.map((r) => r.via).sort(), ['rtcp-port', 'rtp-port']);
    assert.ok(heard.rtp[0].equals(rtp));
  });

  it('sends-from-the-rtp-or-the-rtcp-port', async () => {
    const { pair } = await openPair();
    const receiver = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const fromPorts: number[] = [];
    receiver.on('message', (_bytes, from) => fromPorts.push(from.port));
    const to = { address: '127.0.0.1', port: receiver.address().port };
    pair.sendRtp(Buffer.from([0x80, 0, 0, 0]), to);
    await pair.sendRtcp(Buffer.from([0x80, 201, 0, 0]), to);
    await pair.sendRtcp(Buffer.from([0x80, 201, 0, 0]), to, 'rtp-port');
    await until(() => fromPorts.length === 3);
    receiver.close();
    assert.deepEqual(fromPorts.sort(), [pair.port, pair.port, pair.port + 1].sort());
  });

  it('says-so-when-the-range-has-no-free-pair', async () => {
    // A range of one free pair (a fixed one may be held by another program on the machine).
    const port = await freeEvenPortPair('127.0.0.1');
    const { pair } = await openPair([port, port + 1]);
    assert.equal(pair.port, port);
    await assert.rejects(openPair([port, port + 1]), NoFreeRtpPortError);
  });
});
