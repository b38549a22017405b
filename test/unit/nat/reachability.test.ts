// The dial-back vote: probes from members' other addresses, counted only from addresses this
// node never sent to; ties and silence go to "unreachable", nothing conclusive to "unknown".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BindingOutcome, StunClient } from '../../../native/proto/nat/stun-client.js';
import { checkReachability, describeReachability } from '../../../native/services/nat/reachability.js';
import type { TransportAddress } from '../../../native/wire/stun/message.js';

const me = { address: '203.0.113.5', port: 5060 };

/** A member: its address, its other address (undefined: none), and what its change-request probe does. */
interface FakeMember {
  at: TransportAddress;
  other?: TransportAddress;
  probe: 'arrives' | 'lost' | 'refused' | { from: TransportAddress };
}

function fakeStun(members: FakeMember[], asked: string[] = []): StunClient {
  return {
    async binding(to: TransportAddress, options: { change?: { changeIp: boolean; changePort: boolean } } = {}): Promise<BindingOutcome> {
      const m = members.find((x) => x.at.address === to.address && x.at.port === to.port)!;
      asked.push(`${to.address}${options.change ? ' change' : ''}`);
      const answer = (source: TransportAddress) => ({ ok: true as const, answer: { mapped: me, source, other: m.other, rttMs: 1, attributes: [] } });
      if (!options.change) return answer(m.at);
      if (m.probe === 'lost') return { ok: false, reason: 'timeout' };
      if (m.probe === 'refused') return { ok: false, reason: 'error-response', code: 420, text: 'Cannot change address' };
      if (m.probe === 'arrives') return answer(m.other!);
      return answer(m.probe.from);
    },
  } as unknown as StunClient;
}

const member = (n: number, probe: FakeMember['probe'], other = true): FakeMember => ({
  at: { address: `198.51.100.${n}`, port: 5060 },
  other: other ? { address: `198.51.100.${n + 100}`, port: 5061 } : undefined,
  probe,
});

describe('reachability by dial-back', () => {
  it('probes that arrive from addresses never sent to make the node reachable, and three that say something are enough', async () => {
    const members = [member(1, 'arrives'), member(2, 'arrives'), member(3, 'lost'), member(4, 'arrives')];
    const asked: string[] = [];
    const view = await checkReachability(members.map((m) => m.at), { stun: fakeStun(members, asked), hasSentTo: () => false, now: () => 7 });
    assert.equal(view.state, 'reachable');
    assert.equal(view.address, '203.0.113.5:5060');
    assert.deepEqual(view.probes.map((p) => p.result), ['arrived', 'arrived', 'silent']);
    assert.ok(!asked.includes('198.51.100.4'), 'the fourth member is not asked');
    assert.match(describeReachability(view), /2 of 3 probes .* arrived/);
  });

  it('silence, and a tie, make it unreachable', async () => {
    const lost = [member(1, 'lost'), member(2, 'lost')];
    assert.equal((await checkReachability(lost.map((m) => m.at), { stun: fakeStun(lost), hasSentTo: () => false, now: () => 0 })).state, 'unreachable');
    const tie = [member(1, 'arrives'), member(2, 'lost')];
    assert.equal((await checkReachability(tie.map((m) => m.at), { stun: fakeStun(tie), hasSentTo: () => false, now: () => 0 })).state, 'unreachable');
  });

  it('does not count a probe from an address this node has sent to, nor one from the member itself; a member with no second address or that refuses cannot probe', async () => {
    const members = [member(1, 'arrives'), member(2, { from: { address: '198.51.100.2', port: 5061 } }), member(3, 'arrives', false), member(4, 'refused')];
    const view = await checkReachability(members.map((m) => m.at), { stun: fakeStun(members), hasSentTo: (a) => a === "198.51.100.101", now: () => 0 });
    assert.deepEqual(view.probes.map((p) => p.result), ['inconclusive', 'inconclusive', 'cannot-probe', 'cannot-probe']);
    assert.equal(view.state, 'unknown');
    assert.match(describeReachability(view), /no member could probe/);
  });
});
