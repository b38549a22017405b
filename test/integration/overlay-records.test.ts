// Overlay records over real SIP between in-process engines: stored where they belong, refused
// when forged or replayed, and still there after the storing node restarts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../native/roots/node-engine.js';
import { encodeOverlayRequest, decodeOverlayResponse, type NodeRef } from '../../native/wire/overlay/messages.js';
import { idToHex, keyForAor } from '../../native/wire/overlay/node-id.js';
import { signRecord, type OverlayRecord } from '../../native/wire/overlay/record.js';
import { removeDir, tempDataDir, TEST_DIFFICULTY } from '../support/node-process.js';
import { solveNameRange } from '../../native/wire/overlay/id-puzzle.js';

const FAST = { stabilizeMs: 200, fixFingersMs: 100, checkPredecessorMs: 400, replicateMs: 1_000, requestTimeoutMs: 1_000, ...TEST_DIFFICULTY };

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends one raw overlay operation from `from`'s SIP stack, as any peer could. */
async function rawStore(from: Engine, to: NodeRef, records: OverlayRecord[]) {
  const parts = encodeOverlayRequest('store', { records, replica: false }, from.overlay.self!, to, 'peerdial');
  const outcome = await from.sip.request({ method: 'REGISTER', requestUri: parts.requestUri, to: parts.to, from: parts.from, contact: parts.contact, headers: parts.headers, body: parts.body, contentType: parts.contentType, timeoutMs: 3_000 });
  assert.equal(outcome.kind, 'final');
  if (outcome.kind !== 'final') throw new Error('no answer');
  return { status: outcome.response.status, decoded: decodeOverlayResponse('store', outcome.response) };
}

/** A record signed with `privateKey` for `owner`; a name claim carries the proof of work for its name and owner. */
function claim(user: string, privateKey: Buffer, owner: string, seq: number, type: 'name' | 'binding' = 'name'): OverlayRecord {
  const key = idToHex(keyForAor(user, 'peerdial'));
  const work = () => solveNameRange(Buffer.from(owner, 'base64url'), user, 'peerdial', TEST_DIFFICULTY.nameDifficulty, 0, Number.MAX_SAFE_INTEGER)!.nonce;
  const value = type === 'name' ? { user, overlay: 'peerdial', work: work() } : { user, overlay: 'peerdial', contact: `sip:${user}@203.0.113.9:5060` };
  return signRecord({ type, key, owner, slot: type === 'name' ? '' : 'f'.repeat(40), seq, expires: Date.now() + 60_000, value }, privateKey);
}

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { owner: spki.subarray(spki.length - 32).toString('base64url'), privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

describe('overlay records between engines', () => {
  const engines: Engine[] = [];
  const dirs: string[] = [];
  before(async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const dir = await tempDataDir();
      dirs.push(dir);
      const bootstrap = engines.length ? [`127.0.0.1:${engines[0].sip.port}`] : [];
      // No relays: their advertisements would be records too, and these tests count users' own.
      engines.push(await Engine.start({ dataDir: dir, bind: '127.0.0.1', sipPort: 0, user: { userName: user }, bootstrap, overlayConfig: FAST, registrationRefreshMs: 2_000, relay: { enabled: false } }));
    }
    await until('every user registered and the ring of three formed', () =>
      engines.every((e) => e.overlay.registration.state === 'registered' && e.overlay.node!.table.successors.length === 2),
    );
  });
  after(async () => {
    for (const e of engines) await e.stop();
    for (const d of dirs) await removeDir(d);
  });

  it('keeps every record on all three nodes (r = 3)', async () => {
    await until('6 records on each node', () => engines.every((e) => e.overlay.node!.store.size === 6));
  });

  it('refuses a name claim for a taken name, a replayed update, and a binding by another key', async () => {
    const alice = engines[0];
    const target = engines[1].overlay.self!;
    const mallory = keyPair();
    const squat = await rawStore(alice, target, [claim('bob', mallory.privateKey, mallory.owner, Date.now())]);
    assert.equal(squat.status, 200);
    assert.equal(typeof squat.decoded, 'object');
    const result = squat.decoded as { stored: number; rejected: Array<{ reason: string }> };
    assert.equal(result.stored, 0);
    assert.equal(result.rejected[0].reason, 'name-taken');

    const binding = await rawStore(alice, target, [claim('bob', mallory.privateKey, mallory.owner, Date.now(), 'binding')]);
    assert.equal((binding.decoded as { rejected: Array<{ reason: string }> }).rejected[0].reason, 'not-name-owner');

    const fresh = keyPair();
    const first = claim('zoe', fresh.privateKey, fresh.owner, 1_000);
    assert.equal(((await rawStore(alice, target, [first])).decoded as { stored: number }).stored, 1);
    const replay = await rawStore(alice, target, [claim('zoe', fresh.privateKey, fresh.owner, 999)]);
    assert.equal((replay.decoded as { rejected: Array<{ reason: string }> }).rejected[0].reason, 'replay');
  });

  it('refuses a record whose signature does not match its owner', async () => {
    const a = keyPair();
    const b = keyPair();
    // Signed by a, claiming b's key (with the work done for b's key, so only the signature is wrong).
    const forged = { ...claim('yann', a.privateKey, b.owner, 5), owner: b.owner };
    const answer = await rawStore(engines[0], engines[2].overlay.self!, [forged]);
    assert.equal((answer.decoded as { rejected: Array<{ reason: string }> }).rejected[0].reason, 'bad-signature');
  });

  it('answers a malformed overlay request with 400 and an unknown overlay with 404', async () => {
    const e = engines[0];
    const target = engines[1].overlay.self!;
    const parts = encodeOverlayRequest('fetch', { key: 'not-a-key' } as never, e.overlay.self!, target, 'peerdial');
    const bad = await e.sip.request({ method: 'REGISTER', requestUri: parts.requestUri, to: parts.to, from: parts.from, headers: parts.headers, body: parts.body, contentType: parts.contentType, timeoutMs: 3_000 });
    assert.equal(bad.kind === 'final' && bad.response.status, 400);
    const other = encodeOverlayRequest('ping', {}, e.overlay.self!, target, 'elsewhere');
    const wrong = await e.sip.request({ method: 'REGISTER', requestUri: other.requestUri, to: other.to, from: other.from, headers: other.headers, body: other.body, contentType: other.contentType, timeoutMs: 3_000 });
    assert.equal(wrong.kind === 'final' && wrong.response.status, 404);
  });

  it('keeps stored records across a restart of the storing node', async () => {
    const carol = engines[2];
    const before = carol.overlay.node!.store.all().map((r) => `${r.key}/${r.type}/${r.slot}/${r.seq}`).sort();
    const port = carol.sip.port;
    await carol.stop();
    const restarted = await Engine.start({ dataDir: dirs[2], bind: '127.0.0.1', sipPort: port, overlayConfig: FAST, registrationRefreshMs: 2_000 });
    engines[2] = restarted;
    // Before it has rejoined or anyone re-registered, the records are back from disk.
    const kept = new Set(restarted.overlay.node!.store.all().map((r) => `${r.key}/${r.type}/${r.slot}`));
    for (const id of before) assert.ok(kept.has(id.split('/').slice(0, 3).join('/')), `lost ${id}`);
  });

  it('finds a user through the rebuilt ring after the restart', async () => {
    const restarted = engines[2];
    await until('carol rejoined', () => restarted.overlay.node!.table.successors.length === 2);
    // Reached over TLS at the restarted node, pinning its new certificate (a restart makes a new one).
    const expected = `sip:carol@127.0.0.1:${restarted.sip.tlsPort};transport=tls;pdcert=${restarted.sip.certificate}`;
    await until('carol found at her new TLS listener', async () => (await engines[0].overlay.lookupAor('carol')).contacts[0] === expected);
    assert.deepEqual((await engines[0].overlay.lookupAor('carol')).contacts, [expected]);
  });
});
