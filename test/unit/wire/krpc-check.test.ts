// The KRPC check that stands between the DHT node's socket and bittorrent-dht: BEP 5 messages
// pass; junk, wrong shapes and oversized datagrams are named and dropped, never thrown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import bencode from 'bencode';
import { MAX_KRPC_BYTES, checkKrpc, decodeBencode } from '../../../native/wire/dht/krpc-check.js';

const id = Buffer.alloc(20, 7);
const node = (a: number, port: number) => Buffer.concat([Buffer.alloc(20, 1), Buffer.from([a, 0, 0, 1]), Buffer.from([port >> 8, port & 255])]);
const check = (message: unknown) => checkKrpc(bencode.encode(message));

describe('checking KRPC datagrams before the DHT library reads them', () => {
  it('passes the BEP 5 queries, responses and errors', () => {
    // BEP 5's own examples, with 20-byte IDs.
    assert.equal(checkKrpc(Buffer.from(`d1:ad2:id20:${'a'.repeat(20)}e1:q4:ping1:t2:aa1:y1:qe`)).ok, true);
    for (const m of [
      { t: 'aa', y: 'q', q: 'find_node', a: { id, target: id } },
      { t: 'aa', y: 'q', q: 'get_peers', a: { id, info_hash: id } },
      { t: 'aa', y: 'q', q: 'announce_peer', a: { id, info_hash: id, port: 6881, implied_port: 1, token: 'aoeusnth' } },
      { t: 'aa', y: 'r', r: { id, nodes: Buffer.concat([node(127, 6881), node(8, 1)]) } },
      { t: 'aa', y: 'r', r: { id, token: 'x', values: [Buffer.from([127, 0, 0, 1, 0x1a, 0xe1])] } },
      { t: 'aa', y: 'e', e: [201, 'A Generic Error Ocurred'] },
    ]) assert.equal(check(m).ok, true, JSON.stringify(m));
  });

  it('drops junk, wrong shapes and what the library would throw on, saying why', () => {
    const cases: Array<[unknown, string]> = [
      [Buffer.from('not bencode at all'), 'not-bencode'],
      [Buffer.from('d1:t2:aa1:y1:q'), 'not-bencode'],
      [Buffer.from('i042e'), 'not-bencode'],
      [Buffer.from('d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qeTRAILING'), 'not-bencode'],
      [bencode.encode(42), 'not-krpc'],
      [bencode.encode(['a', 'list']), 'not-krpc'],
      [bencode.encode({ t: 'aa', y: 'x' }), 'not-krpc'],
      [bencode.encode({ t: 5, y: 'r', r: { id } }), 'not-krpc'],
      [bencode.encode({ t: 'aa', y: 'q', q: 'get_peers', a: { id, info_hash: 5 } }), 'bad-query'],
      [bencode.encode({ t: 'aa', y: 'q', q: 'find_node', a: { id, target: 5 } }), 'bad-query'],
      [bencode.encode({ t: 'aa', y: 'q', q: 'announce_peer', a: { id, info_hash: id, token: 7, port: 1 } }), 'bad-query'],
      [bencode.encode({ t: 'aa', y: 'q', q: 'ping', a: 5 }), 'bad-query'],
      [bencode.encode({ t: 'aa', y: 'q', q: 'vote', a: { id } }), 'unknown-method'],
      [bencode.encode({ t: 'aa', y: 'r', r: { id: 'short' } }), 'bad-response'],
      [bencode.encode({ t: 'aa', y: 'r', r: { id, nodes: Buffer.alloc(27, 9) } }), 'bad-response'],
      [bencode.encode({ t: 'aa', y: 'r', r: { id, nodes: node(127, 0) } }), 'bad-response'],
      [bencode.encode({ t: 'aa', y: 'r', r: { id, nodes: node(255, 80) } }), 'bad-response'],
      [bencode.encode({ t: 'aa', y: 'r', r: { id, values: [5] } }), 'bad-response'],
      [bencode.encode({ t: 'aa', y: 'e', e: 'oops' }), 'bad-error'],
      [Buffer.alloc(MAX_KRPC_BYTES + 1, 0x61), 'oversized'],
    ];
    for (const [datagram, why] of cases) {
      const result = checkKrpc(datagram as Uint8Array);
      assert.equal(result.ok ? 'ok' : result.drop, why, Buffer.from(datagram as Uint8Array).toString('latin1').slice(0, 60));
    }
  });

  it('reads bencode strictly and never deeper than it can afford', () => {
    assert.deepEqual(decodeBencode(Buffer.from('li-3e3:abce')), [-3, Buffer.from('abc')]);
    assert.equal(decodeBencode(Buffer.from('i-0e')), undefined);
    assert.equal(decodeBencode(Buffer.from('99999999:x')), undefined);
    assert.equal(decodeBencode(Buffer.from('l'.repeat(5000) + 'e'.repeat(5000))), undefined);
    assert.equal(decodeBencode(Buffer.from('di1ei2ee')), undefined, 'keys are strings');
  });
});
