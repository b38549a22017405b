// The overlay's crypto puzzles (wire/overlay/id-puzzle.ts): solved, checked, and refused when
// anything in them is changed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkIdProof, checkNameWork, idWork, leadingZeroBits, nameWork, nodeIdFromProof, solveIdRange, solveNameRange } from '../../../native/wire/overlay/id-puzzle.js';
import { idToHex } from '../../../native/wire/overlay/node-id.js';
import { parseNodeUri, nodeUri, isNodeRef } from '../../../native/wire/overlay/messages.js';
import { parseRecord } from '../../../native/wire/overlay/record.js';
import { nameRecord, newOwner } from '../../sim/records.js';
import { signRecord } from '../../../native/wire/overlay/record.js';

const D = 10;

function provenNode(difficulty = D) {
  const key = randomBytes(32);
  const solved = solveIdRange(key, difficulty, 0, 1 << 24)!;
  return { id: idToHex(nodeIdFromProof(key, solved.nonce)), host: '127.0.0.1', port: 5060, pk: key.toString('base64url'), nonce: solved.nonce, bits: solved.bits };
}

describe('node ID puzzle', () => {
  it('counts leading zero bits across bytes', () => {
    assert.equal(leadingZeroBits(Buffer.from([0x80])), 0);
    assert.equal(leadingZeroBits(Buffer.from([0x01])), 7);
    assert.equal(leadingZeroBits(Buffer.from([0x00, 0x00, 0x1f])), 19);
    assert.equal(leadingZeroBits(Buffer.alloc(4)), 32);
  });

  it('solves to a nonce whose work has the zero bits, and the ID is the work digest\'s last 160 bits', () => {
    const node = provenNode();
    assert.ok(node.bits >= D);
    const work = idWork(Buffer.from(node.pk, 'base64url'), node.nonce);
    assert.ok(leadingZeroBits(work) >= D);
    assert.equal(node.id, work.subarray(12).toString('hex'));
    assert.equal(checkIdProof(node, D), undefined);
  });

  it('refuses a tampered ID, key or nonce, too little work, and a missing or malformed proof', () => {
    const node = provenNode();
    const flipped = (node.id[0] === '0' ? '1' : '0') + node.id.slice(1);
    assert.equal(checkIdProof({ ...node, id: flipped }, D), 'wrong-id');
    assert.equal(checkIdProof({ ...node, pk: randomBytes(32).toString('base64url') }, D), 'wrong-id');
    assert.equal(checkIdProof({ ...node, nonce: node.nonce + 1 }, D), 'wrong-id');
    assert.equal(checkIdProof(node, node.bits + 1), 'too-little-work');
    assert.equal(checkIdProof({ id: node.id }, D), 'missing');
    assert.equal(checkIdProof({ id: node.id, pk: 'short', nonce: node.nonce }, D), 'malformed');
    assert.equal(checkIdProof({ id: node.id, pk: node.pk, nonce: -1 }, D), 'malformed');
    assert.equal(checkIdProof({ id: node.id, pk: node.pk, nonce: 1.5 }, D), 'malformed');
    assert.equal(checkIdProof({ id: node.id, pk: node.pk, nonce: '7' }, D), 'malformed');
  });

  it('an ID chosen freely (the SHA-1 of a key, as before) has no proof that stands', () => {
    const node = provenNode();
    assert.equal(checkIdProof({ ...node, id: 'ab'.repeat(20) }, 0), 'wrong-id');
  });

  it('gives up after the range without a solution', () => {
    assert.equal(solveIdRange(randomBytes(32), 64, 0, 100), undefined);
    assert.throws(() => solveIdRange(randomBytes(32), 65, 0, 1), RangeError);
  });
});

describe('node references carry their proof', () => {
  it('in a Contact URI, as URI parameters, and back', () => {
    const node = provenNode();
    const { bits: _bits, ...ref } = node;
    const uri = nodeUri(ref);
    assert.match(uri, /;pk=[A-Za-z0-9_-]{43};nonce=\d+$/);
    assert.deepEqual(parseNodeUri(uri), ref);
    assert.deepEqual(parseNodeUri(`<${uri}>`.slice(1, -1) + ';transport=tls'), ref);
  });

  it('a malformed proof in a Contact is left out, not a failure to parse', () => {
    const parsed = parseNodeUri(`sip:${'a'.repeat(40)}@127.0.0.1:5060;pk=bad;nonce=x`);
    assert.deepEqual(parsed, { id: 'a'.repeat(40), host: '127.0.0.1', port: 5060 });
  });

  it('a node reference without a proof, or with a malformed one, still parses (clients, older nodes)', () => {
    assert.ok(isNodeRef({ id: 'a'.repeat(40), host: 'h', port: 1 }));
    assert.ok(isNodeRef({ id: 'a'.repeat(40), host: 'h', port: 1, pk: 7, nonce: 'x' }));
  });
});

describe('name claim proof of work', () => {
  it('binds the work to the name and the owner key', () => {
    const alice = newOwner();
    const raw = Buffer.from(alice.owner, 'base64url');
    const solved = solveNameRange(raw, 'Alice', 'peerdial', D, 0, 1 << 24)!;
    assert.ok(leadingZeroBits(nameWork(raw, 'alice', 'PEERDIAL', solved.nonce)) >= D, 'the name is lower-cased');
    const claim = { owner: alice.owner, value: { user: 'alice', overlay: 'peerdial', work: solved.nonce } };
    assert.ok(checkNameWork(claim, D));
    // Moved to another name or key, the nonce's work is a fresh random digest: 20 zero bits by chance is one in a million.
    assert.ok(!checkNameWork({ ...claim, value: { ...claim.value, user: 'alicf' } }, 20), 'another name');
    assert.ok(!checkNameWork({ ...claim, owner: newOwner().owner }, 20), 'another key');
    assert.ok(!checkNameWork({ ...claim, value: { user: 'alice', overlay: 'peerdial' } }, D), 'no work');
    assert.ok(checkNameWork({ ...claim, value: { user: 'alice', overlay: 'peerdial' } }, 0), 'difficulty 0 asks none');
  });

  it('a claim whose work field is not a whole number does not parse', () => {
    const alice = newOwner();
    const good = nameRecord(alice, 'alice', 'peerdial', Date.now() + 60_000);
    const bad = signRecord({ ...good, value: { ...good.value, work: 'lots' } as never }, alice.privateKey);
    assert.equal(parseRecord(bad), 'bad name work');
  });
});
