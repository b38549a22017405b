import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StreamItem } from '../../../native/control/api.js';
import { RestartableEndpoint } from '../../../electron/restartable-endpoint.js';
import { startHostedEngine, type HostedEngineFixture } from './hosted-engine.js';

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the endpoint the window uses across engine restarts', () => {
  const fixtures: HostedEngineFixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.cleanup();
  });

  it('refuses commands with UNAVAILABLE while no engine is attached', async () => {
    const endpoint = new RestartableEndpoint();
    await assert.rejects(endpoint.invoke('node.status', {}), { code: 'UNAVAILABLE' });
  });

  it('keeps a subscription across a restart and tells the window to reload', async () => {
    const endpoint = new RestartableEndpoint();
    const items: StreamItem[] = [];
    endpoint.subscribe(undefined, (item) => items.push(item));

    const first = await startHostedEngine();
    fixtures.push(first);
    endpoint.attach(first.client);
    await until(() => items.some((i) => i.type === 'reset'));
    await endpoint.invoke('identity.create', { displayName: 'Eve', userName: 'eve' });
    await until(() => items.some((i) => i.type === 'identity.created'));
    const firstEpoch = items[0].epoch;

    // The engine process dies; a new one (new epoch) takes its place.
    endpoint.detach();
    await first.client.stop(2_000);
    await assert.rejects(endpoint.invoke('node.status', {}), { code: 'UNAVAILABLE' });
    const second = await startHostedEngine();
    fixtures.push(second);
    const before = items.length;
    endpoint.attach(second.client);
    await until(() => items.length > before);
    const reset = items[before];
    assert.equal(reset.type, 'reset');
    assert.notEqual(reset.epoch, firstEpoch);
    assert.equal((await endpoint.invoke('node.status', {})).sipPort, second.sipPort);
  });
});
