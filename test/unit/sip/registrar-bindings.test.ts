import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyRegister, contactsOf, type Binding, type RegisterRequest } from '../../../native/proto/sip/registrar-bindings.js';

const NOW = 1_800_000_000_000;
const source = { protocol: 'udp' as const, address: '198.51.100.7', port: 40312 };
const request = (over: Partial<RegisterRequest>): RegisterRequest => ({ contacts: [], callId: 'c1', cseq: 1, source, ...over });
const contact = (uri: string, params: Record<string, unknown> = {}) => ({ uri, params });

function registered(...requests: RegisterRequest[]): Binding[] {
  let bindings: Binding[] = [];
  for (const r of requests) {
    const outcome = applyRegister(bindings, r, NOW);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    bindings = outcome.bindings;
  }
  return bindings;
}

describe('registrar bindings (RFC 3261 10.3)', () => {
  it('binds each contact for the Expires asked (capped at the most), keeps q and the flow, and lists the seconds left', () => {
    const bindings = registered(request({ contacts: [contact('sip:alice@192.168.1.5:5062', { q: '0.7' }), contact('sip:alice@192.168.1.5:5064', { expires: '120' })], expires: 7200, userAgent: 'baresip' }));
    assert.equal(bindings.length, 2);
    assert.equal(bindings[0].expiresAt, NOW + 3600_000, 'Expires 7200 is cut to 3600');
    assert.equal(bindings[0].q, 0.7);
    assert.deepEqual(bindings[0].source, source);
    assert.equal(bindings[0].userAgent, 'baresip');
    assert.equal(bindings[1].expiresAt, NOW + 120_000, 'the contact\'s own expires wins over the header');
    assert.deepEqual(contactsOf(bindings, NOW + 20_000), [contact('sip:alice@192.168.1.5:5062', { expires: '3580' }), contact('sip:alice@192.168.1.5:5064', { expires: '100' })]);
  });

  it('refreshes a binding with a higher CSeq, removes it with expires 0, and leaves the others', () => {
    const first = registered(request({ contacts: [contact('sip:alice@192.168.1.5:5062'), contact('sip:alice@10.0.0.9')], expires: 600 }));
    const refreshed = applyRegister(first, request({ contacts: [contact('sip:alice@192.168.1.5:5062')], expires: 900, cseq: 2 }), NOW + 1000);
    assert.ok(refreshed.ok);
    assert.equal(refreshed.bindings.find((b) => b.contact.endsWith(':5062'))!.expiresAt, NOW + 1000 + 900_000);
    const removed = applyRegister(refreshed.bindings, request({ contacts: [contact('sip:alice@192.168.1.5:5062')], expires: 0, cseq: 3 }), NOW + 2000);
    assert.ok(removed.ok);
    assert.deepEqual(removed.bindings.map((b) => b.contact), ['sip:alice@10.0.0.9']);
  });

  it('refuses a REGISTER older than the binding it would change (same Call-ID, CSeq not higher)', () => {
    const first = registered(request({ contacts: [contact('sip:alice@10.0.0.9')], cseq: 5 }));
    const stale = applyRegister(first, request({ contacts: [contact('sip:alice@10.0.0.9')], cseq: 5 }), NOW);
    assert.deepEqual(stale.ok ? undefined : stale.status, 500);
    // Another Call-ID (the phone restarted) may change it whatever its CSeq.
    assert.ok(applyRegister(first, request({ contacts: [contact('sip:alice@10.0.0.9')], callId: 'c2', cseq: 1 }), NOW).ok);
  });

  it('answers a too brief interval with 423 and the least it takes', () => {
    const outcome = applyRegister([], request({ contacts: [contact('sip:alice@10.0.0.9')], expires: 30 }), NOW);
    assert.deepEqual(outcome, { ok: false, status: 423, reason: 'Interval Too Brief', minExpiresS: 60 });
  });

  it('takes Contact: * only with Expires: 0, and then removes every binding', () => {
    const first = registered(request({ contacts: [contact('sip:alice@10.0.0.9'), contact('sip:alice@10.0.0.10')] }));
    assert.deepEqual(applyRegister(first, request({ contacts: '*', cseq: 2 }), NOW), { ok: false, status: 400, reason: 'Bad Request (Contact: * needs Expires: 0)' });
    assert.deepEqual(applyRegister(first, request({ contacts: '*', expires: 0, cseq: 2 }), NOW), { ok: true, bindings: [] });
  });

  it('RFC 5626: a contact with the same instance and reg-id replaces the binding whatever its URI (the phone moved)', () => {
    const instance = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"';
    const first = registered(request({ contacts: [contact('sip:alice@192.168.1.5:5062', { '+sip.instance': instance, 'reg-id': '1' })] }));
    const moved = applyRegister(first, request({ contacts: [contact('sip:alice@10.20.0.3:5062', { '+sip.instance': instance, 'reg-id': '1' })], callId: 'c9', source: { ...source, port: 40999 } }), NOW);
    assert.ok(moved.ok);
    assert.deepEqual(moved.bindings.map((b) => [b.contact, b.instance, b.regId, b.source.port]), [['sip:alice@10.20.0.3:5062', '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>', 1, 40999]]);
  });

  it('lists what is bound for a query (no Contact), forgets expired bindings, and caps the bindings of one address', () => {
    const first = registered(request({ contacts: [contact('sip:alice@10.0.0.9', { expires: '60' })] }));
    const query = applyRegister(first, request({ cseq: 2 }), NOW + 1000);
    assert.ok(query.ok && query.bindings.length === 1);
    const later = applyRegister(first, request({ cseq: 3 }), NOW + 61_000);
    assert.ok(later.ok && later.bindings.length === 0);
    const many = Array.from({ length: 11 }, (_, i) => contact(`sip:alice@10.0.0.${i + 1}`));
    const full = applyRegister([], request({ contacts: many }), NOW);
    assert.equal(full.ok ? undefined : full.status, 503);
  });

  it('refuses contacts it cannot read', () => {
    assert.equal((applyRegister([], request({ contacts: [contact('mailto:alice@example.org')] }), NOW) as { status: number }).status, 400);
    assert.equal((applyRegister([], request({ contacts: [contact('sip:alice@10.0.0.9', { expires: 'soon' })] }), NOW) as { status: number }).status, 400);
  });
});
