// The port mapper's choices, with routers played by fakes: the order PCP, NAT-PMP, UPnP; a
// router's nonsense refused and counted; renewal at half the lease; deletion when turned off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../native/log.js';
import { PortMapper } from '../../../native/services/nat/port-mapper.js';
import type { Granted, MapAsk, MappingProtocol, RouterMapper } from '../../../native/services/nat/router-mappers.js';
import { FakeClock } from '../../support/fake-clock.js';

class FakeRouter implements RouterMapper {
  readonly transports = ['udp', 'tcp'] as const;
  readonly maps: MapAsk[] = [];
  readonly unmaps: MapAsk[] = [];
  closed = 0;
  constructor(
    readonly protocol: MappingProtocol,
    private readonly answer: (ask: MapAsk) => Granted | Error,
    readonly gateway = '192.168.1.1',
  ) {}
  async map(ask: MapAsk): Promise<Granted> {
    this.maps.push({ ...ask });
    const a = this.answer(ask);
    if (a instanceof Error) throw a;
    return a;
  }
  async unmap(ask: MapAsk): Promise<void> {
    this.unmaps.push({ ...ask });
  }
  async close(): Promise<void> {
    this.closed++;
  }
}

function mapperWith(routers: FakeRouter[], clock = new FakeClock()) {
  let changes = 0;
  const mapper = new PortMapper({
    timers: clock,
    now: () => clock.now,
    log: createLogger('test', 'error'),
    gateway: async () => '192.168.1.1',
    mappers: async function* () {
      yield* routers;
    },
    onChange: () => changes++,
  });
  return { mapper, clock, changes: () => changes };
}

const granted = (port = 5060): Granted => ({ externalAddress: '198.51.100.9', externalPort: port, lifetimeS: 600 });

describe('port mapper', () => {
  it('tries PCP, then NAT-PMP, then UPnP, keeps the first that maps, and maps TCP on the same port', async () => {
    const pcp = new FakeRouter('pcp', () => new Error('no PCP answer from 192.168.1.1'));
    const pmp = new FakeRouter('nat-pmp', () => granted());
    const upnp = new FakeRouter('upnp', () => granted());
    const { mapper } = mapperWith([pcp, pmp, upnp]);
    await mapper.map('192.168.1.20', 5060);
    const view = mapper.view(true);
    assert.equal(view.state, 'mapped');
    assert.equal(view.protocol, 'nat-pmp');
    assert.equal(view.external, '198.51.100.9:5060');
    assert.deepEqual(view.transports, ['udp', 'tcp']);
    assert.equal(upnp.maps.length, 0, 'UPnP is not asked once NAT-PMP mapped');
    assert.equal(pcp.closed, 1);
    assert.deepEqual(pmp.maps.map((a) => a.transport), ['udp', 'tcp']);
    assert.deepEqual(mapper.reaches(), { address: '198.51.100.9', port: 5060 });
  });

  it('a router that answers nonsense is refused, counted and its mapping deleted; the next one is asked', async () => {
    const liar = new FakeRouter('pcp', () => ({ externalAddress: '0.0.0.0', externalPort: 5060, lifetimeS: 600 }));
    const liar2 = new FakeRouter('nat-pmp', () => ({ externalAddress: 'router.local', externalPort: 70000, lifetimeS: 600 }));
    const honest = new FakeRouter('upnp', () => granted());
    const { mapper } = mapperWith([liar, liar2, honest]);
    await mapper.map('192.168.1.20', 5060);
    const view = mapper.view(true);
    assert.equal(view.protocol, 'upnp');
    assert.equal(view.counters.lies, 2);
    assert.equal(liar.unmaps.length, 1);
  });

  it('says what each protocol answered when none maps', async () => {
    const { mapper } = mapperWith([new FakeRouter('pcp', () => new Error('no PCP answer from 192.168.1.1')), new FakeRouter('nat-pmp', () => new Error('Not Authorized/Refused'))]);
    await mapper.map('192.168.1.20', 5060);
    const view = mapper.view(true);
    assert.equal(view.state, 'unavailable');
    assert.match(view.note!, /PCP: no PCP answer/);
    assert.match(view.note!, /NAT-PMP: Not Authorized/);
    assert.match(view.note!, /UPnP IGD: no router answered/);
    assert.equal(mapper.reaches(), undefined);
  });

  it('renews at half the lease, follows a moved port, and maps again when renewal fails', async () => {
    let port = 5060;
    let fail = false;
    const router = new FakeRouter('pcp', () => (fail ? new Error('gone') : granted(port)));
    const { mapper, clock } = mapperWith([router]);
    await mapper.map('192.168.1.20', 5060);
    assert.equal(router.maps.length, 2);
    clock.advance(299_000);
    assert.equal(router.maps.length, 2, 'not before half the 600 s lease');
    port = 5062;
    clock.advance(1_000);
    await until(() => router.maps.length === 4);
    await until(() => mapper.view(true).counters.renewed === 1);
    assert.equal(mapper.view(true).external, '198.51.100.9:5062');
    fail = true;
    clock.advance(300_000);
    await until(() => mapper.view(true).state === 'unavailable');
  });

  it('off deletes the mapping from the router (UDP and TCP) and says so', async () => {
    const router = new FakeRouter('pcp', () => granted());
    const { mapper } = mapperWith([router]);
    await mapper.map('192.168.1.20', 5060);
    await mapper.off('off');
    assert.deepEqual(router.unmaps.map((a) => a.transport), ['udp', 'tcp']);
    assert.equal(mapper.view(false).state, 'off');
    assert.equal(mapper.view(false).counters.deleted, 1);
    assert.equal(mapper.reaches(), undefined);
  });

  it('will not map for an address that is not IPv4', async () => {
    const router = new FakeRouter('pcp', () => granted());
    const { mapper } = mapperWith([router]);
    await mapper.map('::', 5060);
    assert.equal(mapper.view(true).state, 'unavailable');
    assert.equal(router.maps.length, 0);
  });
});

async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ready(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(ready(), 'condition not reached');
}
