import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addId, fingerStart, idFromHex, idToHex, inHalfOpenInterval, inOpenInterval, keyForAor, ringDistance, RING_SIZE } from '../../../native/wire/overlay/node-id.js';

const TOP = RING_SIZE - 1n;

describe('ring arithmetic on the 160-bit Chord circle', () => {
  it('measures clockwise distance across zero', () => {
    assert.equal(ringDistance(10n, 20n), 10n);
    assert.equal(ringDistance(20n, 10n), RING_SIZE - 10n);
    assert.equal(ringDistance(TOP, 1n), 2n);
    assert.equal(ringDistance(5n, 5n), 0n);
  });

  it('wraps additions and finger starts past 2^160', () => {
    assert.equal(addId(TOP, 1n), 0n);
    assert.equal(addId(0n, -1n), TOP);
    assert.equal(fingerStart(TOP, 0), 0n);
    assert.equal(fingerStart(0n, 159), 1n << 159n);
    assert.equal(fingerStart(1n << 159n, 159), 0n);
  });

  it('tells open intervals apart from half-open ones, also when they wrap', () => {
    assert.ok(inOpenInterval(15n, 10n, 20n));
    assert.ok(!inOpenInterval(20n, 10n, 20n));
    assert.ok(!inOpenInterval(10n, 10n, 20n));
    assert.ok(inHalfOpenInterval(20n, 10n, 20n));
    assert.ok(!inHalfOpenInterval(10n, 10n, 20n));
    // (TOP-5, 5) wraps through zero.
    assert.ok(inOpenInterval(0n, TOP - 5n, 5n));
    assert.ok(inOpenInterval(TOP, TOP - 5n, 5n));
    assert.ok(!inOpenInterval(6n, TOP - 5n, 5n));
    assert.ok(inHalfOpenInterval(5n, TOP - 5n, 5n));
  });

  it('treats an interval from a node to itself as the whole ring (a ring of one)', () => {
    assert.ok(inOpenInterval(7n, 3n, 3n));
    assert.ok(!inOpenInterval(3n, 3n, 3n));
    assert.ok(inHalfOpenInterval(3n, 3n, 3n));
  });

  it('writes IDs as 40 hex digits and reads back only that form', () => {
    assert.equal(idToHex(1n), '0'.repeat(39) + '1');
    assert.equal(idFromHex(idToHex(TOP)), TOP);
    assert.equal(idFromHex('xyz'), undefined);
    assert.equal(idFromHex('0'.repeat(41)), undefined);
  });

  it('puts one user at one key whatever the case of the name', () => {
    assert.equal(keyForAor('Alice', 'Peerdial'), keyForAor('alice', 'peerdial'));
    assert.notEqual(keyForAor('alice', 'peerdial'), keyForAor('alice', 'other'));
  });
});
