import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, dialogKey, flowBehindNat, incomingDialogKey, nextLocalSeq, refreshTarget } from '../../../native/proto/sip/dialog.js';
import { isLocalOnlyAddress } from '../../../native/wire/sip/address-scope.js';
import { parseSipMessage, type SipRequest, type SipResponse } from '../../../native/wire/sip/message.js';

function parse<T>(text: string): T {
  const outcome = parseSipMessage(Buffer.from(text.replace(/\n/g, '\r\n')));
  if (outcome.kind !== 'request' && outcome.kind !== 'response') throw new Error(`unparsable: ${outcome.kind}`);
  return outcome.message as T;
}

const invite = parse<SipRequest>(`INVITE sip:bob@192.0.2.2 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1
Max-Forwards: 70
From: "Alice" <sip:alice@peerdial>;tag=alicetag
To: <sip:bob@peerdial>
Call-ID: c1@192.0.2.1
CSeq: 7 INVITE
Contact: <sip:alice@192.0.2.1:5060>
Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>
Content-Length: 0

`);

const ok = parse<SipResponse>(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1
From: "Alice" <sip:alice@peerdial>;tag=alicetag
To: <sip:bob@peerdial>;tag=bobtag
Call-ID: c1@192.0.2.1
CSeq: 7 INVITE
Contact: <sip:bob@192.0.2.2:5062>
Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>
Content-Length: 0

`);

describe('dialogs (RFC 3261 12)', () => {
  it('the caller takes the remote target from the 2xx Contact and the route set reversed', () => {
    const d = dialogAsUac(invite, ok)!;
    assert.equal(d.remoteTarget, 'sip:bob@192.0.2.2:5062');
    assert.deepEqual(d.routeSet, ['sip:p1.example;lr', 'sip:p2.example;lr']);
    assert.equal(d.localTag, 'alicetag');
    assert.equal(d.remoteTag, 'bobtag');
    assert.equal(d.localSeq, 7);
    assert.equal(nextLocalSeq(d), 8, 'the next request (BYE) counts on from the INVITE');
  });

  it('the callee takes the INVITE Contact and the route set in order, and the caller CSeq as remote', () => {
    const d = dialogAsUas(invite, 'bobtag')!;
    assert.equal(d.remoteTarget, 'sip:alice@192.0.2.1:5060');
    assert.deepEqual(d.routeSet, ['sip:p2.example;lr', 'sip:p1.example;lr']);
    assert.equal(d.remoteSeq, 7);
    assert.equal(d.localUri, 'sip:bob@peerdial');
  });

  it('a request inside the dialog finds it by Call-ID and tags, and an old CSeq is refused', () => {
    const d = dialogAsUas(invite, 'bobtag')!;
    const bye = parse<SipRequest>(`BYE sip:bob@192.0.2.2:5062 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK2
Max-Forwards: 70
From: <sip:alice@peerdial>;tag=alicetag
To: <sip:bob@peerdial>;tag=bobtag
Call-ID: c1@192.0.2.1
CSeq: 8 BYE
Content-Length: 0

`);
    assert.equal(incomingDialogKey(bye), dialogKey('c1@192.0.2.1', 'bobtag', 'alicetag'));
    assert.equal(acceptRemoteSeq(d, bye), true);
    assert.equal(acceptRemoteSeq(d, bye), false, 'the same CSeq again is out of order');
  });

  it('no dialog without a Contact or a tag', () => {
    const noTag = parse<SipResponse>(`SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1
From: <sip:alice@peerdial>;tag=alicetag
To: <sip:bob@peerdial>
Call-ID: c1@192.0.2.1
CSeq: 7 INVITE
Contact: <sip:bob@192.0.2.2:5062>
Content-Length: 0

`);
    assert.equal(dialogAsUac(invite, noTag), undefined);
  });

  it('a private Contact seen from another address sends in-dialog requests back on the flow; a reachable one does not', () => {
    const nat = { protocol: 'udp' as const, address: '198.51.100.103', port: 40312 };
    assert.deepEqual(flowBehindNat('sip:carol@192.168.13.2:5062', nat), nat);
    assert.deepEqual(flowBehindNat('<sip:carol@10.1.2.3;transport=tcp>', { ...nat, protocol: 'tcp' }), { ...nat, protocol: 'tcp' });
    assert.deepEqual(flowBehindNat('sip:carol@100.64.3.2', nat), nat);
    // A public Contact, a host name, or a private one the messages really come from: the Contact is used.
    assert.equal(flowBehindNat('sip:carol@203.0.113.9:5062', nat), undefined);
    assert.equal(flowBehindNat('sip:carol@phone.example', nat), undefined);
    assert.equal(flowBehindNat('sip:carol@192.168.13.2:5062', { ...nat, address: '192.168.13.2' }), undefined);
  });

  it('a target refresh to a reachable Contact drops the flow', () => {
    const d = dialogAsUas(invite, 'bobtag')!;
    d.flow = { protocol: 'udp', address: '198.51.100.103', port: 40312 };
    refreshTarget(d, parse<SipRequest>(`INVITE sip:bob@192.0.2.2 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.5:5060;branch=z9hG4bK2
From: <sip:alice@peerdial>;tag=alicetag
To: <sip:bob@peerdial>;tag=bobtag
Call-ID: c1@192.0.2.1
CSeq: 8 INVITE
Contact: <sip:alice@192.168.1.5:5060>
Content-Length: 0

`));
    assert.ok(d.flow, 'still a private Contact: the flow stays');
    refreshTarget(d, ok);
    assert.equal(d.remoteTarget, 'sip:bob@192.0.2.2:5062');
    assert.equal(d.flow, undefined);
  });
});

describe('local-only addresses', () => {
  it('RFC 1918, RFC 6598, loopback, link-local and unique-local are local only; public addresses and names are not', () => {
    for (const ip of ['10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.0.1', '100.64.0.1', '100.127.255.254', '127.0.0.1', '169.254.1.1', 'fd00::1', '[fe80::1]', '::1']) {
      assert.equal(isLocalOnlyAddress(ip), true, ip);
    }
    for (const host of ['172.32.0.1', '100.128.0.1', '198.51.100.7', '8.8.8.8', '2001:db8::1', 'example.org', '']) {
      assert.equal(isLocalOnlyAddress(host), false, host);
    }
  });
});
