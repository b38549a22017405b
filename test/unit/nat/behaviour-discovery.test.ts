// NAT behaviour discovery (RFC 5780) against Peerdial's own STUN responder, through simulated
// NATs of every mapping and filtering kind, on a fake clock: the finding must name the NAT.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoverBehaviour, describeBehaviour, type FilteringBehaviour, type MappingBehaviour } from '../../../native/proto/nat/behaviour-discovery.js';
import { StunClient } from '../../../native/proto/nat/stun-client.js';
import { StunResponder, type SocketRole } from '../../../native/proto/nat/stun-responder.js';
import type { TransportAddress } from '../../../native/wire/stun/message.js';
import { FakeClock } from '../../support/fake-clock.js';

type Kind = { mapping: Exclude<MappingBehaviour, 'no-nat'>; filtering: FilteringBehaviour } | 'no-nat' | 'udp-blocked';
const A1 = '198.51.100.10';
const A2 = '198.51.100.11';
const SERVER: TransportAddress[][] = [
  [{ address: A1, port: 3478 }, { address: A1, port: 3479 }],
  [{ address: A2, port: 3478 }, { address: A2, port: 3479 }],
];
const PRIVATE = { address: '192.168.1.2', port: 5000 };
const PUBLIC_IP = '203.0.113.5';

/** One client socket behind a NAT of `kind`, and a two-address server; delivery on microtasks. */
function world(kind: Kind) {
  const clock = new FakeClock();
  const responder = new StunResponder({ addresses: SERVER }, 'test');
  const mappings = new Map<string, number>();
  const sentTo = new Set<string>();
  let nextPort = 40000;
  const mapped = (to: TransportAddress): TransportAddress => {
    if (kind === 'no-nat') return PRIVATE;
    const key = typeof kind === 'string' || kind.mapping === 'endpoint-independent' ? '*' : kind.mapping === 'address-dependent' ? to.address : `${to.address}:${to.port}`;
    if (!mappings.has(key)) mappings.set(key, nextPort++);
    return { address: PUBLIC_IP, port: mappings.get(key)! };
  };
  const admitted = (from: TransportAddress): boolean => {
    if (kind === 'no-nat') return true;
    if (kind === 'udp-blocked') return false;
    if (kind.filtering === 'endpoint-independent') return sentTo.size > 0;
    if (kind.filtering === 'address-dependent') return [...sentTo].some((s) => s.startsWith(`${from.address}:`));
    return sentTo.has(`${from.address}:${from.port}`);
  };
  const client: StunClient = new StunClient({
    timers: clock,
    now: () => clock.now,
    send: (bytes, to) => {
      if (kind === 'udp-blocked') return;
      sentTo.add(`${to.address}:${to.port}`);
      const source = mapped(to);
      const role = roleOf(to);
      if (!role) return;
      queueMicrotask(() => {
        const action = responder.handle(bytes, source, role);
        if (action.kind !== 'reply') return;
        const from = SERVER[action.from.ip][action.from.port];
        queueMicrotask(() => {
          if (admitted(from)) client.accept(action.bytes, from);
        });
      });
    },
  });
  return { clock, client };
}

function roleOf(to: TransportAddress): SocketRole | undefined {
  for (const ip of [0, 1] as const) for (const port of [0, 1] as const) if (SERVER[ip][port].address === to.address && SERVER[ip][port].port === to.port) return { ip, port };
  return undefined;
}

async function discover(kind: Kind) {
  const { clock, client } = world(kind);
  const local = [PRIVATE];
  let done = false;
  const running = discoverBehaviour((to, change) => client.binding(to, { change }), SERVER[0][0], local).finally(() => (done = true));
  while (!done) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(50);
  }
  return running;
}

describe('NAT behaviour discovery (RFC 5780)', () => {
  const kinds: Array<{ mapping: Exclude<MappingBehaviour, 'no-nat'>; filtering: FilteringBehaviour }> = [];
  for (const mapping of ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const) {
    for (const filtering of ['endpoint-independent', 'address-dependent', 'address-and-port-dependent'] as const) kinds.push({ mapping, filtering });
  }
  for (const kind of kinds) {
    it(`finds ${kind.mapping} mapping with ${kind.filtering} filtering`, async () => {
      const found = await discover(kind);
      assert.equal(found.udp, true);
      assert.equal(found.mapping, kind.mapping, found.notes.join('; '));
      assert.equal(found.filtering, kind.filtering, found.notes.join('; '));
      assert.equal(found.mapped?.address, PUBLIC_IP);
    });
  }

  it('finds no NAT when the mapped address is our own', async () => {
    const found = await discover('no-nat');
    assert.equal(found.mapping, 'no-nat');
    assert.equal(found.filtering, 'endpoint-independent');
    assert.match(describeBehaviour(found), /no NAT/);
  });

  it('says UDP is blocked when nothing answers', async () => {
    const found = await discover('udp-blocked');
    assert.equal(found.udp, false);
    assert.equal(found.mapping, undefined);
    assert.match(describeBehaviour(found), /UDP looks blocked/);
  });

  it('says in words what a port-restricted router does', async () => {
    const found = await discover({ mapping: 'endpoint-independent', filtering: 'address-dependent' });
    assert.equal(
      describeBehaviour(found),
      'Your router keeps the same public port for every destination (endpoint-independent mapping) and lets in replies only from addresses you have sent to (address-dependent filtering).',
    );
  });
});
