// The renderer's pure helpers: what a typed address becomes, and where a node sits in the ring drawing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OverlayStatus } from '../../../native/control/api.js';
import { conversationKey } from '../../../native/wire/sip/uri.js';
import { knownNodes, pointOnCircle, turnOf } from '../../../renderer/src/lib/ring.js';
import { addressFromInput, contactParts, conversationKeyOf, isOverlayUser } from '../../../renderer/src/lib/sip-address.js';
import { proposeUserName } from '../../../renderer/src/lib/user-name.js';

describe('addresses typed in the chat', () => {
  it('tells a user of the overlay (blockable) from a phone or another domain', () => {
    assert.equal(isOverlayUser('sip:carol@peerdial', 'peerdial'), true);
    assert.equal(isOverlayUser('<sip:Carol@PeerDial>', 'peerdial'), true);
    assert.equal(isOverlayUser('sip:desk@192.0.2.7:5060', 'peerdial'), false);
    assert.equal(isOverlayUser('sip:carol@peerdial.example', 'peerdial'), false);
    assert.equal(isOverlayUser('sip:carol@peerdial', undefined), false);
  });

  it('turn a bare user name into an AOR of this overlay, and keep full SIP URIs', () => {
    assert.equal(addressFromInput(' Bob ', 'peerdial'), 'sip:bob@peerdial');
    assert.equal(addressFromInput('bob@192.0.2.10:5060', 'peerdial'), 'sip:bob@192.0.2.10:5060');
    assert.equal(addressFromInput('sip:bob@127.0.0.1:5071', 'peerdial'), 'sip:bob@127.0.0.1:5071');
    assert.equal(addressFromInput('bob', undefined), 'bob');
  });

  it('file conversations under the same key as the engine', () => {
    for (const uri of ['sip:bob@127.0.0.1:5071', '<sip:Bob@Example.ORG:5060;transport=tcp>', 'sip:bob@peerdial', 'sips:carol@host']) {
      assert.equal(conversationKeyOf(uri), conversationKey(uri)?.replace(/^sips?:/, 'sip:'), uri);
    }
    assert.equal(conversationKeyOf('not a uri'), undefined);
  });
});

describe('the ring drawing', () => {
  it('places an ID by its fraction of 2^160, clockwise from the top', () => {
    assert.equal(turnOf('0'.repeat(40)), 0);
    assert.equal(turnOf('8' + '0'.repeat(39)), 0.5);
    assert.ok(Math.abs(turnOf('4' + '0'.repeat(39)) - 0.25) < 1e-12);
    const right = pointOnCircle(0.25, 10, 0, 0);
    assert.ok(Math.abs(right.x - 10) < 1e-9 && Math.abs(right.y) < 1e-9);
    const top = pointOnCircle(0, 10, 0, 0);
    assert.ok(Math.abs(top.x) < 1e-9 && Math.abs(top.y + 10) < 1e-9);
  });

  it('lists every known node once, with all the roles it has', () => {
    const n = (c: string) => ({ id: c.repeat(40), host: '127.0.0.1', port: 5000 });
    const status = {
      nodeId: 'a'.repeat(40),
      predecessor: n('9'),
      successors: [n('b'), n('c')],
      fingers: [{ index: 0, node: n('b') }, { index: 158, node: n('9') }],
    } as unknown as OverlayStatus;
    const known = knownNodes(status);
    assert.deepEqual(known.map((k) => [k.node.id[0], k.roles]), [
      ['a', ['self']],
      ['9', ['predecessor', 'finger']],
      ['b', ['successor', 'finger']],
      ['c', ['successor']],
    ]);
  });
});

describe('the user name the first-run screen proposes', () => {
  it('is the display name in the form the engine accepts', () => {
    assert.equal(proposeUserName('Alice Smith'), 'alice-smith');
    assert.equal(proposeUserName("  Zoë O'Neil "), 'zoe-o-neil');
    assert.equal(proposeUserName('Dr. Bob'), 'dr.-bob');
    assert.equal(proposeUserName('__x__'), 'x');
    assert.equal(proposeUserName('李'), '');
    assert.equal(proposeUserName('a'.repeat(40)), 'a'.repeat(32));
  });

  it('is always a name the engine takes, or empty', () => {
    for (const name of ['Alice Smith', '  --Carol--', 'Ünïcödé Nämé', 'x y z 1 2 3', '...', 'Ann-Marie de la Cruz y Fernández Ortega']) {
      const proposed = proposeUserName(name);
      assert.ok(proposed === '' || /^[a-z0-9][a-z0-9._-]{0,31}$/.test(proposed), `${name} -> ${proposed}`);
    }
  });
});

describe('contacts on the Network screen', () => {
  it('shows a TLS contact as its address, marked TLS with the certificate pinned; other parameters stay', () => {
    assert.deepEqual(contactParts('sip:carol@127.0.0.1:5061;transport=tls;pdcert=n_tmX-3EdZFM0QtNZ0rz62UNIkk8d0QbHsJuzNGloHI'), {
      address: 'sip:carol@127.0.0.1:5061',
      tls: true,
      certificate: 'n_tmX-3EdZFM0QtNZ0rz62UNIkk8d0QbHsJuzNGloHI',
    });
    assert.deepEqual(contactParts('sip:carol@192.0.2.1:5060;pdphone=p1'), { address: 'sip:carol@192.0.2.1:5060;pdphone=p1', tls: false });
    assert.deepEqual(contactParts('sip:carol@192.0.2.1:5061;transport=TLS'), { address: 'sip:carol@192.0.2.1:5061', tls: true });
  });
});
