// Peerdial's TURN server (RFC 8656) against coturn's own test client: turnutils_uclient allocates
// through our server (in this process, on 127.0.0.1) and sends to turnutils_peer, which echoes
// every datagram back through the relay. Over UDP and over TCP (-t), with channels (and an RTCP
// allocation that claims the EVEN-PORT reservation of the RTP one) and with Send/Data indications
// (-s); with a member-issued credential and with the same derivation done by uclient itself (-W).
// A wrong password must fail.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { freeEvenPortPair } from '../support/udp-ports.js';
import { after, before, describe, it, type TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { issueRelayCredential } from '../../native/proto/nat/relay-credentials.js';
import { TurnRelayServer } from '../../native/services/nat/turn-relay-server.js';
import { ATTR, BINDING, attribute, decodeXorAddress, parseStun, serializeStun } from '../../native/wire/stun/message.js';

const HOST = '127.0.0.1';
const REALM = 'relay.peerdial.test';
const MEMBER_SECRET = 'interop-member-secret';
const CLIENTS = 10;
const MESSAGES = 100;
const LENGTH = 170;
const RELAY_PORTS = { min: 42000, max: 42999 };

interface Run {
  code: number | null;
  output: string;
}

/** Runs a coturn tool under `timeout` (it waits forever for an answer that never comes). */
async function run(command: string, args: string[], seconds = 60): Promise<Run> {
  const child = spawn('timeout', [String(seconds), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}


/** turnutils_peer echoes: it is ready once a datagram comes back. */
async function startEchoPeer(): Promise<{ port: number; process: ChildProcess }> {
  const port = await freeEvenPortPair(HOST);
  const process = spawn('turnutils_peer', ['-L', HOST, '-p', String(port)], { stdio: 'ignore' });
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, HOST, resolve));
  try {
    const echoed = once(probe, 'message');
    const ask = setInterval(() => probe.send('ready?', port, HOST), 50);
    const exited = once(process, 'exit').then(() => {
      throw new Error('turnutils_peer exited before it echoed');
    });
    await Promise.race([echoed, exited]).finally(() => clearInterval(ask));
  } finally {
    probe.close();
  }
  return { port, process };
}

/** The lines of uclient's final report that say what got through. */
function report(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => /start_mclient: tot_send|Total lost packets|Average round trip|Total transmit time/.test(line))
    .map((line) => line.replace(/^\d+: : /, ''));
}

function assertNoLoss(t: TestContext, result: Run): void {
  assert.equal(result.code, 0, `uclient exits 0:\n${result.output.slice(-3000)}`);
  for (const line of report(result.output)) t.diagnostic(line);
  const totals = result.output.match(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/);
  assert.ok(totals, `uclient's totals line:\n${result.output.slice(-2000)}`);
  assert.equal(Number(totals[1]), CLIENTS * MESSAGES, 'every message was sent');
  assert.equal(Number(totals[2]), CLIENTS * MESSAGES, 'every message came back through the relay');
  assert.match(result.output, /Total lost packets 0 \(0\.0+%\)/);
}

describe('TURN server interop with coturn turnutils_uclient', () => {
  const relay = new TurnRelayServer();
  let port = 0;
  let peer: { port: number; process: ChildProcess };
  const credential = issueRelayCredential(MEMBER_SECRET, 'uclient-identity', 3600, Date.now());

  before(async () => {
    ({ port } = await relay.start({
      address: HOST,
      port: 0,
      realm: REALM,
      secret: MEMBER_SECRET,
      software: 'Peerdial interop',
      relayPorts: RELAY_PORTS,
      // The echo peer is on loopback, which the deny list keeps out unless allowed. uclient -m 10 makes
      // 20 allocations a run (RTP and RTCP) and leaves the UDP ones to expire.
      policy: { allowedPeers: [HOST], maxAllocationsPerUser: 10 * CLIENTS, maxAllocations: 20 * CLIENTS },
    }));
    peer = await startEchoPeer();
  });
  after(async () => {
    peer?.process.kill();
    await relay.stop();
  });

  const uclient = (extra: string[], user = ['-u', credential.username, '-w', credential.password]) =>
    run('turnutils_uclient', [...extra, ...user, '-e', HOST, '-r', String(peer.port), '-L', HOST, '-m', String(CLIENTS), '-n', String(MESSAGES), '-l', String(LENGTH), '-p', String(port), HOST]);

  it('relays over UDP with channels, the RTCP allocations claiming the RTP ones\' reserved ports, without loss', async (t) => {
    const before = relay.stats();
    assertNoLoss(t, await uclient([]));
    const stats = relay.stats();
    assert.ok(stats.bytesTotal.up - before.bytesTotal.up >= CLIENTS * MESSAGES * LENGTH, `relayed up: ${JSON.stringify(stats.bytesTotal)}`);
    assert.ok(stats.bytesTotal.down - before.bytesTotal.down >= CLIENTS * MESSAGES * LENGTH, `relayed down: ${JSON.stringify(stats.bytesTotal)}`);
    assert.equal(stats.counters.capacity, 0, 'every reservation token was honoured');
    assert.equal(stats.counters.noPermission, 0);
    assert.equal(stats.counters.malformed, 0);
    for (const a of stats.perAllocation) assert.ok(a.relay.port >= RELAY_PORTS.min && a.relay.port <= RELAY_PORTS.max, `relay port ${a.relay.port} in the range`);
    t.diagnostic(`server: ${stats.allocations} allocations left, ${stats.relayPortsOpen} relay ports open, relayed ${JSON.stringify(stats.bytesTotal)}`);
  });

  it('relays over TCP to the server (-t), the relayed leg still UDP, without loss', async (t) => {
    const before = relay.stats();
    assertNoLoss(t, await uclient(['-t']));
    const stats = relay.stats();
    assert.ok(stats.bytesTotal.down - before.bytesTotal.down >= CLIENTS * MESSAGES * LENGTH);
    assert.equal(stats.counters.malformed, 0, 'the TCP stream framing never lost its place');
  });

  it('relays with Send and Data indications instead of channels (-s), without loss', async (t) => {
    assertNoLoss(t, await uclient(['-s', '-c']));
  });

  it('takes the credential uclient derives itself from the member secret (-W, TURN REST API)', async (t) => {
    assertNoLoss(t, await uclient(['-c'], ['-W', MEMBER_SECRET, '-u', 'another-identity']));
  });

  it('refuses a wrong password: uclient cannot allocate', async () => {
    const refusedBefore = relay.stats().counters.badCredentials;
    const allocationsBefore = relay.stats().allocations;
    const result = await uclient(['-c'], ['-u', credential.username, '-w', 'not-the-password']);
    assert.notEqual(result.code, 0, `uclient must fail:\n${result.output.slice(-2000)}`);
    assert.notEqual(result.code, 124, 'it failed by itself, not by the timeout');
    assert.match(result.output, /Cannot complete Allocation|error 401/);
    assert.ok(relay.stats().counters.badCredentials > refusedBefore);
    assert.equal(relay.stats().allocations, allocationsBefore);
  });
});

describe('TURN relay server: the TCP stream (RFC 8656 12.5, RFC 8489 6.2.2)', () => {
  const relay = new TurnRelayServer();
  let port = 0;
  before(async () => {
    ({ port } = await relay.start({ address: HOST, port: 0, realm: REALM, secret: MEMBER_SECRET, relayPorts: RELAY_PORTS }));
  });
  after(() => relay.stop());

  const binding = () => serializeStun({ method: BINDING, klass: 'request', transactionId: randomBytes(12), attributes: [] }, { fingerprint: true });

  it('finds messages split over segments and several in one segment', async () => {
    const socket = net.connect(port, HOST);
    await once(socket, 'connect');
    const requests = [binding(), binding(), binding()];
    const answers: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    const allIn = new Promise<void>((resolve) =>
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 20 && buffered.length >= 20 + buffered.readUInt16BE(2)) {
          const length = 20 + buffered.readUInt16BE(2);
          answers.push(buffered.subarray(0, length));
          buffered = buffered.subarray(length);
        }
        if (answers.length === requests.length) resolve();
      }),
    );
    const first = requests[0];
    socket.write(first.subarray(0, 3)); // not even a whole header yet
    await new Promise((resolve) => setImmediate(resolve));
    socket.write(first.subarray(3, 25));
    await new Promise((resolve) => setImmediate(resolve));
    socket.write(Buffer.concat([first.subarray(25), requests[1], requests[2]]));
    await allIn;
    const local = { address: HOST, port: socket.localPort! };
    socket.destroy();
    answers.forEach((bytes, i) => {
      const parsed = parseStun(bytes);
      assert.ok(parsed.ok);
      assert.equal(parsed.message.klass, 'success');
      assert.deepEqual(parsed.message.transactionId, requests[i].subarray(8, 20));
      assert.deepEqual(decodeXorAddress(attribute(parsed.message, ATTR.XOR_MAPPED_ADDRESS)!, parsed.message.transactionId), local);
    });
  });

  it('closes a connection whose stream is neither STUN nor ChannelData, and counts it', async () => {
    const before = relay.stats().counters.malformed;
    const socket = net.connect(port, HOST);
    await once(socket, 'connect');
    socket.on('error', () => {});
    const closed = once(socket, 'close');
    // A TLS ClientHello to our plain port: its first byte (22) is neither STUN (0-3) nor ChannelData (64-127).
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2e, 0x01, 0x00, 0x00, 0x2a, 0x03, 0x03]));
    await closed;
    assert.equal(relay.stats().counters.malformed, before + 1);
    assert.equal(relay.stats().tcpConnections, 0);
  });
});
