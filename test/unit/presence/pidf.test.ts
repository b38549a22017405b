import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPidf, MAX_NOTE_LENGTH, parsePidf } from '../../../native/wire/presence/pidf.js';

const AT = Date.UTC(2026, 10, 25, 15, 30, 0, 123);

describe('PIDF presence documents (RFC 3863, RPID RFC 4480)', () => {
  for (const status of ['available', 'away', 'busy', 'offline'] as const) {
    it(`reads back "${status}" with its note and timestamp`, () => {
      const xml = buildPidf({ entity: 'sip:alice@peerdial', status, note: 'back at 3 & "soon" <ok> ✓', at: AT });
      assert.deepEqual(parsePidf(xml), { entity: 'sip:alice@peerdial', status, note: 'back at 3 & "soon" <ok> ✓', at: AT });
    });
  }

  it('writes basic open/closed in a tuple, and away/busy as RPID activities of the person', () => {
    const busy = buildPidf({ entity: 'sip:alice@peerdial', status: 'busy', at: AT });
    assert.match(busy, /<tuple id="pd">\s*<status><basic>open<\/basic><\/status>\s*<timestamp>2026-11-25T15:30:00\.123Z<\/timestamp>/);
    assert.match(busy, /<dm:person id="p">\s*<rpid:activities><rpid:busy\/><\/rpid:activities>/);
    assert.doesNotMatch(busy, /<note>/);
    assert.match(buildPidf({ entity: 'sip:alice@peerdial', status: 'offline', at: AT }), /<basic>closed<\/basic>/);
  });

  it('reads a document from another client: prefixed PIDF namespace, no timestamp, on-the-phone as busy', () => {
    const xml = `<?xml version="1.0"?>
<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" entity='sip:carol@example.org'>
  <p:tuple id="x1"><p:status><p:basic> open </p:basic></p:status><p:contact>sip:carol@192.0.2.7</p:contact></p:tuple>
  <d:person id="y"><r:activities><r:on-the-phone/></r:activities></d:person>
  <p:note xml:lang="en">call me &#x263A;</p:note>
</p:presence>`;
    assert.deepEqual(parsePidf(xml), { entity: 'sip:carol@example.org', status: 'busy', note: 'call me ☺' });
  });

  it('cuts a note to the maximum length', () => {
    const doc = parsePidf(buildPidf({ entity: 'sip:a@b', status: 'available', note: 'x'.repeat(500), at: AT }));
    assert.equal(doc?.note?.length, MAX_NOTE_LENGTH);
  });

  it('returns undefined for text that is not a presence document', () => {
    assert.equal(parsePidf(''), undefined);
    assert.equal(parsePidf('<html><body>hi</body></html>'), undefined);
    assert.equal(parsePidf('<presence entity="sip:a@b"><tuple id="t"><status><basic>maybe</basic></status></tuple></presence>'), undefined, 'basic is open or closed');
    assert.equal(parsePidf('<presence><tuple id="t"><status><basic>open</basic></status></tuple></presence>'), undefined, 'entity is required');
    assert.equal(parsePidf('<presence entity="sip:a@b"><tuple id="t"><status><basic>open</basic>'), undefined, 'unterminated');
  });
});
