import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { overlayInfohash } from '../../../native/wire/dht/overlay-infohash.js';
import { isPublicAddress } from '../../../native/services/dht/index.js';

describe('the overlay infohash (BEP 5 rendezvous)', () => {
  it('is SHA-1 of the label and the lowercased overlay name, as docs/protocol.md gives it', () => {
    assert.equal(overlayInfohash('peerdial').toString('hex'), '7250d4fd9b1817fc3800fa700f6a7a116713a9d2');
    assert.deepEqual(overlayInfohash('PeerDial'), overlayInfohash('peerdial'));
    assert.notDeepEqual(overlayInfohash('elsewhere'), overlayInfohash('peerdial'));
  });
});

describe('addresses believed from the public DHT', () => {
  it('are public ones only', () => {
    for (const a of ['8.8.8.8', '203.0.113.7', '2001:db8::1']) assert.equal(isPublicAddress(a), true, a);
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.1.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', 'fe80::1', 'fd00::1', '::']) assert.equal(isPublicAddress(a), false, a);
  });
});
