// A member's relay ("Relay calls for others") serves any RFC 8656 client once the user has a
// credential: the test asks for one exactly as a Peerdial user does (a SIP MESSAGE signed with
// the user's identity key, read from the user's data directory), then coturn's turnutils_uclient
// allocates with it on the member's TURN server and relays to turnutils_peer with no loss, over
// UDP and over TCP. Requests signed by a key that does not own the name, naming another relay,
// too old (a replay), or changed after signing, are refused (403, 403, 400, 400).
// Two nodes on loopback: mona (the member asked) and nick (the user), bootstrapped to her.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import path from 'node:path';
import { freeEvenPortPair } from '../support/udp-ports.js';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { RelayServerView } from '../../native/control/api.js';
import { Database } from '../../native/storage/db.js';
import { IdentityRepository } from '../../native/storage/repositories/identity-repository.js';
import { decodeCredentialGrant, RELAY_CONTENT_TYPE, signCredentialRequest, type CredentialGrant, type CredentialRequest } from '../../native/wire/relay/credential.js';
import { decodeBody, parseSipMessage } from '../../native/wire/sip/message.js';
import { controlOf, untilFoundInOverlay, type NodeControl } from '../support/control.js';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

const HOST = '127.0.0.1';
const QUIET = ['--no-mdns', '--no-multicast-register', '--refresh-seconds', '5'];

/** Sends a MESSAGE over UDP (again every 500 ms, RFC 3261 Timer E) and resolves with the final answer. */
async function sendMessage(to: { host: string; port: number; uri: string }, from: string, body: string): Promise<{ status: number; reason: string; body: string }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const local = socket.address().port;
  const bytes = Buffer.from([
    `MESSAGE ${to.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${local};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <${from}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <${to.uri}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@${HOST}`,
    'CSeq: 1 MESSAGE',
    `Content-Type: ${RELAY_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n'));
  try {
    return await new Promise((resolve, reject) => {
      const resend = setInterval(() => socket.send(bytes, to.port, to.host), 500);
      const timer = setTimeout(() => {
        clearInterval(resend);
        reject(new Error(`no final answer to the MESSAGE to ${to.uri} within 10 s`));
      }, 10_000);
      socket.on('message', (datagram) => {
        const parsed = parseSipMessage(datagram);
        if (parsed.kind !== 'response' || parsed.message.status < 200) return;
        clearInterval(resend);
        clearTimeout(timer);
        resolve({ status: parsed.message.status, reason: String(parsed.message.reason), body: decodeBody(parsed.message.content) });
      });
      socket.send(bytes, to.port, to.host);
    });
  } finally {
    socket.close();
  }
}

/** Runs a coturn tool under `timeout`: it waits forever for answers that never come. */
async function run(command: string, args: string[], seconds = 60): Promise<{ code: number | null; output: string }> {
  const child = spawn('timeout', [String(seconds), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/** turnutils_peer on an even port with the next one free too (uclient's RTCP goes to port + 1); ready once it echoes. */
async function startEchoPeer(): Promise<{ port: number; process: ChildProcess }> {
  for (;;) {
    const port = await freeEvenPortPair(HOST);
    const peer = spawn('timeout', ['300', 'turnutils_peer', '-L', HOST, '-p', String(port)], { stdio: 'ignore' });
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, HOST, resolve));
    const ask = setInterval(() => probe.send('ready?', port, HOST), 50);
    try {
      await Promise.race([once(probe, 'message'), once(peer, 'exit').then(() => Promise.reject(new Error('turnutils_peer exited before it echoed')))]);
    } finally {
      clearInterval(ask);
      probe.close();
    }
    return { port, process: peer };
  }
}

describe('turnutils_uclient through a member\'s relay, with a credential asked for as an overlay user', () => {
  let mona: NodeProcess;
  let nick: NodeProcess;
  let monaApi: NodeControl;
  let peer: { port: number; process: ChildProcess } | undefined;
  /** Mona's relay: its TURN address, and the contact credential requests go to. */
  let relay: { host: string; port: number; member: string; contact: { host: string; port: number; uri: string } };
  let nickAor: string;
  let nickKey: { raw: Buffer; privateKey: Buffer };
  let grant: CredentialGrant;

  const ask = (request: CredentialRequest, from = nickAor) => sendMessage(relay.contact, from, JSON.stringify(request));
  const signed = (fields: Partial<{ aor: string; member: string; at: number }> = {}, key = nickKey) =>
    signCredentialRequest({ aor: nickAor, member: relay.member, at: Date.now(), ...fields }, key.raw, key.privateKey);
  const refused = async () => (await monaApi.invoke('relay.status', {})).server.counters.credentialRequestsRefused ?? 0;

  before(async () => {
    mona = await startNode({ user: 'mona', args: [...QUIET] });
    nick = await startNode({ user: 'nick', args: [...QUIET, '--bootstrap', `${HOST}:${mona.sipPort}`] });
    monaApi = controlOf(mona);
    // On loopback the NAT check finds no NAT once there are two members: then mona relays.
    let server: RelayServerView | undefined;
    await until('mona\'s relay to run', async () => (server = (await monaApi.invoke('relay.status', {})).server).state === 'running' && server.address, 40_000, () => JSON.stringify(server));
    const [host, port] = server!.address!.split(':');
    relay = { host, port: Number(port), member: server!.address!, contact: { host: HOST, port: mona.sipPort, uri: `sip:relay@${HOST}:${mona.sipPort}` } };
    // The member checks the key against nick's name record: it must be in the overlay first.
    await untilFoundInOverlay(mona, 'nick');
    nickAor = /^aor: (\S+)$/m.exec(nick.output())![1];
    // Nick's identity key, as his node keeps it (the database is in WAL mode: a second reader is fine).
    const db = await Database.open(path.join(nick.dataDir, 'peerdial.sqlite3'));
    try {
      const identity = (await new IdentityRepository(db).get())!;
      nickKey = { raw: identity.publicKey.subarray(-32), privateKey: identity.privateKey };
    } finally {
      await db.close();
    }
    peer = await startEchoPeer();
  });

  after(async () => {
    peer?.process.kill();
    monaApi?.close();
    for (const node of [nick, mona]) if (node) await node.stop();
    for (const node of [nick, mona]) if (node) await removeDir(node.dataDir);
  });

  const uclient = (extra: string[]) =>
    run('turnutils_uclient', [...extra, '-u', grant.username, '-w', grant.password, '-e', HOST, '-r', String(peer!.port), '-L', HOST, '-m', '1', '-n', '100', '-l', '170', '-p', String(relay.port), relay.host]);

  const assertNoLoss = (t: TestContext, result: { code: number | null; output: string }) => {
    assert.equal(result.code, 0, `uclient exits 0:\n${result.output.slice(-3000)}`);
    const totals = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(result.output);
    assert.ok(totals, `uclient's totals line:\n${result.output.slice(-2000)}`);
    // 100 messages on the RTP allocation and 100 on the RTCP one.
    assert.equal(Number(totals[1]), 200, 'every message was sent');
    assert.equal(Number(totals[2]), 200, 'every message came back through the relay');
    assert.match(result.output, /Total lost packets 0 \(0\.0+%\)/);
    t.diagnostic(result.output.split('\n').filter((l) => /start_mclient: tot_send_msgs|Average round trip/.test(l)).map((l) => l.replace(/^\d+: : /, '')).join('; '));
  };

  it('gives nick a credential for a request signed with his identity key', async () => {
    const issuedBefore = (await monaApi.invoke('relay.status', {})).server.counters.credentialsIssued ?? 0;
    const answer = await ask(signed());
    assert.equal(answer.status, 200, `${answer.status} ${answer.reason}`);
    grant = decodeCredentialGrant(answer.body)!;
    assert.ok(grant, `a credential in the 200: ${answer.body}`);
    assert.equal(`${grant.address}:${grant.port}`, relay.member);
    assert.ok(grant.expires > Date.now() + 9 * 60_000, `good for ten minutes at least: ${new Date(grant.expires).toISOString()}`);
    assert.equal((await monaApi.invoke('relay.status', {})).server.counters.credentialsIssued, issuedBefore + 1);
  });

  it('uclient allocates with it and relays to turnutils_peer without loss, over UDP', async (t) => {
    const before = (await monaApi.invoke('relay.status', {})).server.bytesTotal;
    assertNoLoss(t, await uclient([]));
    const after = (await monaApi.invoke('relay.status', {})).server;
    assert.ok(after.bytesTotal - before >= 2 * 100 * 170, `mona counted the relayed bytes: ${before} -> ${after.bytesTotal}`);
  });

  it('and over TCP to the relay (-t)', async (t) => {
    assertNoLoss(t, await uclient(['-t']));
  });

  it('refuses (403) a request signed by a key that does not own nick\'s name', async () => {
    const before = await refused();
    const other = generateKeyPairSync('ed25519');
    const key = { raw: other.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32), privateKey: other.privateKey.export({ format: 'der', type: 'pkcs8' }) };
    const answer = await ask(signed({}, key));
    assert.equal(answer.status, 403, `${answer.status} ${answer.reason}`);
    assert.match(answer.reason, /key does not own that name/);
    assert.equal(await refused(), before + 1);
  });

  it('refuses nick\'s own signed request when it names another relay (403), is a replay from minutes ago (400), or was changed after signing (400)', async () => {
    const before = await refused();
    const elsewhere = await ask(signed({ member: `${HOST}:3478` }));
    assert.equal(elsewhere.status, 403, `${elsewhere.status} ${elsewhere.reason}`);
    assert.match(elsewhere.reason, /names another relay/);

    const replayed = await ask(signed({ at: Date.now() - 3 * 60_000 }));
    assert.equal(replayed.status, 400, `${replayed.status} ${replayed.reason}`);
    assert.match(replayed.reason, /stale/);

    const tampered = { ...signed(), aor: nickAor.replace('nick', 'mona') };
    const changed = await ask(tampered);
    assert.equal(changed.status, 400, `${changed.status} ${changed.reason}`);
    assert.match(changed.reason, /bad signature/);

    assert.equal(await refused(), before + 3);
  });

  it('answers a signed request once: the same request sent again within its freshness window is refused (403)', async () => {
    const request = signed();
    const first = await ask(request);
    assert.equal(first.status, 200, `${first.status} ${first.reason}`);
    const before = await refused();
    const again = await ask(request);
    assert.equal(again.status, 403, `${again.status} ${again.reason}`);
    assert.match(again.reason, /already answered/);
    assert.equal(await refused(), before + 1);
    assert.equal((await monaApi.invoke('relay.status', {})).server.counters.credentialRequestsReplayed, 1);
  });
});
