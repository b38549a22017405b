import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIsComposing, serializeIsComposing } from '../../../native/wire/im/is-composing.js';

describe('RFC 3994 isComposing documents', () => {
  it('round-trip an active state with its refresh, content type and last activity', () => {
    const doc = { state: 'active' as const, refresh: 90, contentType: 'text/plain', lastActive: Date.parse('2026-11-25T15:00:00Z') };
    const xml = serializeIsComposing(doc);
    assert.match(xml, /<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">/);
    assert.match(xml, /<refresh>90<\/refresh>/);
    assert.deepEqual(parseIsComposing(xml), doc);
  });

  it('round-trip an idle state with nothing else', () => {
    assert.deepEqual(parseIsComposing(serializeIsComposing({ state: 'idle' })), { state: 'idle' });
  });

  it('read a document written by another client, with a namespace prefix and a comment', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
      <!-- from some other UA -->
      <ic:isComposing xmlns:ic="urn:ietf:params:xml:ns:im-iscomposing"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <ic:state>active</ic:state>
        <ic:contenttype>text/html</ic:contenttype>
        <ic:refresh>60</ic:refresh>
      </ic:isComposing>`;
    assert.deepEqual(parseIsComposing(xml), { state: 'active', contentType: 'text/html', refresh: 60 });
  });

  it('escape and unescape a content type with markup characters', () => {
    const xml = serializeIsComposing({ state: 'active', contentType: 'text/x-a&b<c>' });
    assert.match(xml, /text\/x-a&amp;b&lt;c&gt;/);
    assert.equal(parseIsComposing(xml)?.contentType, 'text/x-a&b<c>');
  });

  it('refuse what is not an isComposing document', () => {
    assert.equal(parseIsComposing(''), undefined);
    assert.equal(parseIsComposing('hello'), undefined);
    assert.equal(parseIsComposing('<isComposing><state>active</state></isComposing>'), undefined, 'no namespace');
    assert.equal(parseIsComposing('<isComposing xmlns="urn:example:other"><state>active</state></isComposing>'), undefined);
    const ns = 'xmlns="urn:ietf:params:xml:ns:im-iscomposing"';
    assert.equal(parseIsComposing(`<isComposing ${ns}><state>typing</state></isComposing>`), undefined, 'unknown state');
    assert.equal(parseIsComposing(`<isComposing ${ns}></isComposing>`), undefined, 'no state');
    assert.equal(parseIsComposing(`<isComposing ${ns}><state>active</state><refresh>-5</refresh></isComposing>`), undefined);
    assert.equal(parseIsComposing(`<isComposing ${ns}><state>active</state><lastactive>yesterday</lastactive></isComposing>`), undefined);
    assert.equal(parseIsComposing(`<isComposing ${ns}><state>active</state>` + 'x'.repeat(9000) + '</isComposing>'), undefined, 'oversized');
  });
});
