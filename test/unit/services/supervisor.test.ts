import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Supervisor, type SupervisedView } from '../../../native/services/supervisor.js';
import { FakeClock } from '../../support/fake-clock.js';

const settle = () => new Promise((r) => setImmediate(r));

function service(name: string, log: string[], failStarts = 0) {
  let starts = 0;
  return {
    name,
    async start() {
      starts++;
      log.push(`start ${name}`);
      if (starts > 1 && starts <= 1 + failStarts) throw new Error(`${name} cannot start`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  };
}

describe('supervisor', () => {
  it('stops services in the reverse of their start order', async () => {
    const log: string[] = [];
    const s = new Supervisor({ timers: new FakeClock(), onState: () => undefined });
    await s.add(service('storage', log));
    await s.add(service('sip', log));
    await s.add(service('im', log));
    await s.stopAll();
    assert.deepEqual(log, ['start storage', 'start sip', 'start im', 'stop im', 'stop sip', 'stop storage']);
  });

  it('restarts a failed service with doubling backoff and reports each state', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const states: SupervisedView[] = [];
    const s = new Supervisor({ timers: clock, onState: (v) => states.push(v), initialBackoffMs: 1_000 });
    await s.add(service('sip', log, 2)); // the first two restarts fail
    s.reportFailure('sip', new Error('socket closed'));
    assert.equal(s.views[0].state, 'restarting');
    clock.advance(999);
    await settle();
    assert.equal(log.filter((l) => l === 'start sip').length, 1);
    clock.advance(1);
    await settle();
    assert.equal(log.filter((l) => l === 'start sip').length, 2); // failed, next try in 2 s
    clock.advance(2_000);
    await settle();
    assert.equal(log.filter((l) => l === 'start sip').length, 3); // failed, next try in 4 s
    clock.advance(3_999);
    await settle();
    assert.equal(log.filter((l) => l === 'start sip').length, 3);
    clock.advance(1);
    await settle();
    assert.equal(s.views[0].state, 'running');
    assert.equal(s.views[0].restarts, 3);
    assert.deepEqual(
      states.map((v) => v.state),
      ['starting', 'running', 'restarting', 'restarting', 'restarting', 'running'],
    );
    assert.match(states[2].lastError ?? '', /socket closed/);
  });

  it('gives up after maxRestarts and leaves the service failed', async () => {
    const clock = new FakeClock();
    const s = new Supervisor({ timers: clock, onState: () => undefined, maxRestarts: 2, initialBackoffMs: 10 });
    await s.add(service('sip', [], 100));
    s.reportFailure('sip', new Error('broken'));
    for (let i = 0; i < 10; i++) {
      clock.advance(1_000);
      await settle();
    }
    assert.equal(s.views[0].state, 'failed');
  });

  it('a service that fails to start at first is the caller\'s error', async () => {
    const s = new Supervisor({ timers: new FakeClock(), onState: () => undefined });
    await assert.rejects(s.add({ name: 'sip', start: async () => { throw new Error('port in use'); }, stop: async () => undefined }), /port in use/);
    assert.equal(s.views.length, 0);
  });
});
