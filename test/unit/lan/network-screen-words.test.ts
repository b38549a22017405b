// What the Network screen says about the LAN and what its "Share my settings" form sends:
// how peers were found, what an offer sets (never a TURN password), and the form's settings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigOfferView } from '../../../native/control/api.js';
import { configLines, discoveryLine, foundBy, hostPort, offerStateWords, peerLabel, signerLabel } from '../../../renderer/src/lib/lan-format.js';
import { configFromForm, initialShareForm } from '../../../renderer/src/lib/share-form.js';

describe('LAN words', () => {
  it('names both ways a peer was found, and says when discovery is not running', () => {
    assert.equal(foundBy(['mdns', 'multicast-register']), 'mDNS and multicast REGISTER');
    assert.equal(discoveryLine(['mdns']), 'Looking by mDNS.');
    assert.equal(discoveryLine([]), 'LAN discovery is not running on this node.');
  });

  it('labels a peer by its address, else by the start of its node ID, with IPv6 bracketed', () => {
    const peer = { nodeId: 'ab'.repeat(20), overlay: 'peerdial', host: 'fe80::1', port: 5060, via: [], lastSeen: 0, offersConfig: false };
    assert.equal(peerLabel(peer), 'node abababab…');
    assert.equal(peerLabel({ ...peer, aor: 'sip:alice@peerdial' }), 'sip:alice@peerdial');
    assert.equal(hostPort(peer), '[fe80::1]:5060');
  });

  it('lists what an offer sets, and never shows a TURN password', () => {
    const lines = configLines({
      overlay: 'office',
      bootstrap: ['192.0.2.10:5060'],
      turn: [{ address: '192.0.2.20:3478', username: 'desk', password: 'hunter2' }],
      rescue: { enabled: true, donateMbit: 5, cacheMb: 200 },
      callerPolicy: 'buddies',
    });
    assert.deepEqual(lines, [
      ['Overlay', 'office'],
      ['Bootstrap peers', '192.0.2.10:5060'],
      ['TURN relays', '192.0.2.20:3478 as desk (with a password)'],
      ['Rescue sites', 'yes, up to 5 Mbit/s, 200 MB of cache'],
      ['Who may call', 'buddies only'],
    ]);
    assert.ok(!JSON.stringify(lines).includes('hunter2'));
  });

  it('says what each decision about an offer means, and who signed it', () => {
    assert.match(offerStateWords('following'), /apply by themselves/);
    assert.match(offerStateWords('stopped'), /stays/);
    const offer: ConfigOfferView = { signerFingerprint: '1234 abcd', version: 1, config: {}, state: 'available', receivedAt: 0 };
    assert.equal(signerLabel(offer), 'key 1234 abcd');
    assert.equal(signerLabel({ ...offer, signerAor: 'sip:a@o' }), 'sip:a@o');
    assert.equal(signerLabel({ ...offer, signerAor: 'sip:a@o', signerName: 'Alice' }), 'Alice');
  });
});

describe('the share form', () => {
  it('starts from the overlay this node is in, with overlay name and bootstrap peers chosen', () => {
    const form = initialShareForm({ overlay: { overlay: 'office', bootstrap: ['192.0.2.1:5060', '192.0.2.2:5060'] } });
    assert.deepEqual(configFromForm(form), { overlay: 'office', bootstrap: ['192.0.2.1:5060', '192.0.2.2:5060'] });
  });

  it('starts from what is shared already, with exactly those settings chosen', () => {
    const sharing = { stun: ['stun.example.org:3478'], turn: [{ address: '192.0.2.20:3478', username: 'u', password: 'p' }], callerPolicy: 'buddies' as const };
    const form = initialShareForm({ sharing, overlay: { overlay: 'office', bootstrap: [] } });
    assert.deepEqual(configFromForm(form), sharing);
  });

  it('fills settings no overlay has from the offers followed', () => {
    const form = initialShareForm({ followed: [{ stun: ['stun.example.org:3478'], rescue: { enabled: true, donateMbit: 3 } }], overlay: { overlay: 'office', bootstrap: [] } });
    form.chosen.stun = form.chosen.rescue = true;
    form.chosen.overlay = form.chosen.bootstrap = false;
    assert.deepEqual(configFromForm(form), { stun: ['stun.example.org:3478'], rescue: { enabled: true, donateMbit: 3 } });
  });

  it('reads one address a line (commas too), relays with user and password, and rescue numbers', () => {
    const form = initialShareForm({});
    form.chosen = { overlay: false, bootstrap: true, stun: false, turn: true, rescue: true, callerPolicy: true };
    form.bootstrap = '192.0.2.1:5060\n 192.0.2.2:5060, 192.0.2.3:5060\n\n';
    form.turn = '192.0.2.20:3478 desk s3cret\n192.0.2.21:3478';
    form.rescueEnabled = true;
    form.donateMbit = '2.5';
    form.callerPolicy = 'buddies';
    assert.deepEqual(configFromForm(form), {
      bootstrap: ['192.0.2.1:5060', '192.0.2.2:5060', '192.0.2.3:5060'],
      turn: [{ address: '192.0.2.20:3478', username: 'desk', password: 's3cret' }, { address: '192.0.2.21:3478' }],
      rescue: { enabled: true, donateMbit: 2.5 },
      callerPolicy: 'buddies',
    });
  });

  it('says what to fix: nothing chosen, an empty overlay name, a negative number', () => {
    const form = initialShareForm({});
    form.chosen.overlay = form.chosen.bootstrap = false;
    assert.equal(configFromForm(form), 'Choose at least one setting to share.');
    form.chosen.overlay = true;
    assert.match(configFromForm(form) as string, /overlay name/);
    form.chosen.overlay = false;
    form.chosen.rescue = true;
    form.rescueEnabled = true;
    form.cacheMb = '-5';
    assert.match(configFromForm(form) as string, /cache size must be a number/);
  });
});
