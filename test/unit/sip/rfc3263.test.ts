import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { locateSipServers, MAX_TARGETS, orderSrv, type NaptrAnswer, type SipDns, type SrvAnswer } from '../../../native/proto/sip/rfc3263.js';

/** A zone in memory: what each name answers. */
function zone(records: { naptr?: Record<string, NaptrAnswer[]>; srv?: Record<string, SrvAnswer[]>; a?: Record<string, string[]> }): SipDns & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    naptr: async (n) => (asked.push(`NAPTR ${n}`), records.naptr?.[n] ?? []),
    srv: async (n) => (asked.push(`SRV ${n}`), records.srv?.[n] ?? []),
    addresses: async (n) => (asked.push(`A ${n}`), records.a?.[n] ?? []),
  };
}

describe('locating SIP servers (RFC 3263 4)', () => {
  it('an IP address or an explicit port is used as it is, without NAPTR or SRV', async () => {
    const dns = zone({ a: { 'sip.example.test': ['192.0.2.5'] } });
    assert.deepEqual(await locateSipServers({ host: '198.51.100.1' }, dns), [{ protocol: 'udp', address: '198.51.100.1', port: 5060 }]);
    assert.deepEqual(await locateSipServers({ host: 'sip.example.test', port: 5070, transport: 'tcp' }, dns), [{ protocol: 'tcp', address: '192.0.2.5', port: 5070 }]);
    assert.deepEqual(dns.asked, ['A sip.example.test']);
  });

  it('NAPTR picks transports in order and preference, SRV the hosts by priority, A their addresses', async () => {
    const dns = zone({
      naptr: {
        'example.test': [
          { order: 20, preference: 0, flags: 'S', service: 'SIP+D2T', replacement: '_sip._tcp.example.test' },
          { order: 10, preference: 0, flags: 'S', service: 'SIP+D2U', replacement: '_sip._udp.example.test' },
          { order: 5, preference: 0, flags: 'S', service: 'SIPS+D2T', replacement: '_sips._tcp.example.test' },
        ],
      },
      srv: {
        '_sip._udp.example.test': [
          { priority: 20, weight: 0, port: 5062, name: 'b.example.test' },
          { priority: 10, weight: 0, port: 5060, name: 'a.example.test' },
        ],
        '_sip._tcp.example.test': [{ priority: 10, weight: 0, port: 5060, name: 'a.example.test' }],
      },
      a: { 'a.example.test': ['192.0.2.1'], 'b.example.test': ['192.0.2.2'] },
    });
    assert.deepEqual(await locateSipServers({ host: 'example.test' }, dns), [
      { protocol: 'udp', address: '192.0.2.1', port: 5060 },
      { protocol: 'udp', address: '192.0.2.2', port: 5062 },
      { protocol: 'tcp', address: '192.0.2.1', port: 5060 },
    ]);
  });

  it('without NAPTR asks _sip._udp and _sip._tcp SRV; without SRV the host itself on 5060', async () => {
    const srvOnly = zone({ srv: { '_sip._tcp.example.test': [{ priority: 1, weight: 1, port: 5080, name: 'p.example.test' }] }, a: { 'p.example.test': ['192.0.2.9'] } });
    assert.deepEqual(await locateSipServers({ host: 'example.test' }, srvOnly), [{ protocol: 'tcp', address: '192.0.2.9', port: 5080 }]);
    const bare = zone({ a: { 'example.test': ['192.0.2.7'] } });
    assert.deepEqual(await locateSipServers({ host: 'example.test' }, bare), [{ protocol: 'udp', address: '192.0.2.7', port: 5060 }]);
  });

  it('a sips: URI or transport=tls goes over TLS: 5061 by default, _sips._tcp SRV, SIPS+D2T from NAPTR', async () => {
    const bare = zone({ a: { 'example.test': ['192.0.2.7'] } });
    assert.deepEqual(await locateSipServers({ host: '198.51.100.1', transport: 'tls' }, bare), [{ protocol: 'tls', address: '198.51.100.1', port: 5061 }]);
    assert.deepEqual(await locateSipServers({ host: 'example.test', secure: true }, bare), [{ protocol: 'tls', address: '192.0.2.7', port: 5061 }]);
    assert.deepEqual(bare.asked, ['SRV _sips._tcp.example.test', 'A example.test'], 'a sips: URI never falls back to UDP or TCP');
    const srv = zone({ srv: { '_sips._tcp.example.test': [{ priority: 1, weight: 1, port: 5071, name: 't.example.test' }] }, a: { 't.example.test': ['192.0.2.8'] } });
    assert.deepEqual(await locateSipServers({ host: 'example.test', transport: 'TLS' }, srv), [{ protocol: 'tls', address: '192.0.2.8', port: 5071 }]);
    const naptr = zone({
      naptr: { 'example.test': [{ order: 1, preference: 0, flags: 'S', service: 'SIPS+D2T', replacement: '_sips._tcp.example.test' }] },
      srv: { '_sips._tcp.example.test': [{ priority: 1, weight: 1, port: 5061, name: 't.example.test' }] },
      a: { 't.example.test': ['192.0.2.8'] },
    });
    assert.deepEqual(await locateSipServers({ host: 'example.test' }, naptr), [{ protocol: 'tls', address: '192.0.2.8', port: 5061 }]);
  });

  it('hostile answers are bounded: "." means no service, a huge SRV set gives at most 16 targets', async () => {
    const none = zone({ srv: { '_sip._udp.example.test': [{ priority: 0, weight: 0, port: 0, name: '.' }] } });
    assert.deepEqual(await locateSipServers({ host: 'example.test' }, none), []);
    const many = Array.from({ length: 500 }, (_, i) => ({ priority: i, weight: 0, port: 5060, name: `h${i}.example.test` }));
    const a = Object.fromEntries(many.map((r, i) => [r.name, [`10.0.${i >> 8}.${i & 255}`]]));
    const huge = zone({ srv: { '_sip._udp.example.test': many }, a });
    assert.equal((await locateSipServers({ host: 'example.test' }, huge)).length, MAX_TARGETS);
  });

  it('SRV weights share the picks within a priority (RFC 2782)', () => {
    const records = [
      { priority: 1, weight: 90, port: 1, name: 'heavy' },
      { priority: 1, weight: 10, port: 2, name: 'light' },
      { priority: 0, weight: 0, port: 3, name: 'first' },
    ];
    let heavyFirst = 0;
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 1000; i++) {
      const order = orderSrv(records, random).map((r) => r.name);
      assert.equal(order[0], 'first');
      if (order[1] === 'heavy') heavyFirst++;
    }
    assert.ok(heavyFirst > 800 && heavyFirst < 970, `heavy first ${heavyFirst} of 1000`);
  });
});
