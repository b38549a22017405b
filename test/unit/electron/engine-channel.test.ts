import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { ControlError, type StreamItem } from '../../../native/control/api.js';
import { EngineChannelClient } from '../../../electron/engine-channel.js';
import { startHostedEngine, type HostedEngineFixture } from './hosted-engine.js';

function collect(fixture: HostedEngineFixture, since?: { epoch: string; seq: number }) {
  const items: StreamItem[] = [];
  const waiters: Array<() => void> = [];
  const stop = fixture.client.subscribe(since, (item) => {
    items.push(item);
    waiters.splice(0).forEach((w) => w());
  });
  const until = async (predicate: (items: StreamItem[]) => boolean, ms = 3_000) => {
    const deadline = Date.now() + ms;
    while (!predicate(items)) {
      if (Date.now() > deadline) throw new Error(`timed out; saw ${JSON.stringify(items.map((i) => i.type))}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return { items, stop, until };
}

function udpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

describe('engine channel between main and the engine process', () => {
  const fixtures: HostedEngineFixture[] = [];
  after(async () => {
    for (const f of fixtures) await f.cleanup();
  });

  it('runs commands on the real engine and returns their results', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    await f.client.ready;
    assert.equal(await f.client.invoke('identity.get', {}), null);
    const created = await f.client.invoke('identity.create', { displayName: 'Alice', userName: 'alice' });
    assert.equal(created.userName, 'alice');
    assert.deepEqual(await f.client.invoke('identity.get', {}), created);
    const status = await f.client.invoke('node.status', {});
    assert.equal(status.sipContact, `sip:alice@127.0.0.1:${f.sipPort}`);
  });

  it('keeps stable error codes across the channel', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    await assert.rejects(f.client.invoke('identity.create', { displayName: 'Bob', userName: 'not a name!' }), (error: unknown) => {
      assert.ok(error instanceof ControlError);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.match(error.message, /user name/);
      return true;
    });
    await assert.rejects(f.client.invoke('no.such' as 'node.status', {}), { code: 'UNKNOWN_COMMAND' });
  });

  it('answers commands sent before the engine finished starting', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    // No await of `ready` first: the host queues the command behind the start.
    const status = await f.client.invoke('node.status', {});
    assert.equal(status.sipPort, f.sipPort);
  });

  it('streams events live and resumes from the last one seen', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    const first = collect(f);
    await first.until((items) => items.some((i) => i.type === 'reset'));
    await f.client.invoke('identity.create', { displayName: 'Carol', userName: 'carol' });
    await first.until((items) => items.some((i) => i.type === 'identity.created'));
    const created = first.items.find((i) => i.type === 'identity.created')!;
    assert.equal(created.type === 'identity.created' && created.data.userName, 'carol');
    first.stop();

    // Resuming from just before identity.created replays it, without a reset.
    const resumed = collect(f, { epoch: created.epoch, seq: created.seq - 1 });
    await resumed.until((items) => items.length > 0);
    assert.equal(resumed.items[0].type, 'identity.created');
    resumed.stop();
  });

  it('stops sending events after unsubscribe', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    const watched = collect(f);
    await watched.until((items) => items.length > 0);
    watched.stop();
    const count = watched.items.length;
    await f.client.invoke('identity.create', { displayName: 'Dan', userName: 'dan' });
    const other = collect(f);
    await other.until((items) => items.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(watched.items.length, count);
    other.stop();
  });

  it('stops the engine when asked, freeing its SIP port', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    await f.client.ready;
    assert.equal(await udpPortIsFree(f.sipPort), false);
    const started = Date.now();
    assert.equal(await f.client.stop(2_000), true);
    assert.ok(Date.now() - started < 2_000);
    await f.hostStopped;
    assert.equal(await udpPortIsFree(f.sipPort), true);
    await assert.rejects(f.client.invoke('node.status', {}), { code: 'UNAVAILABLE' });
  });

  it('reports an engine that could not start, and fails commands with UNAVAILABLE', async () => {
    const f = await startHostedEngine(async () => {
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    });
    fixtures.push(f);
    await assert.rejects(f.client.ready, /database is locked/);
    await assert.rejects(f.client.invoke('node.status', {}), (error: unknown) => {
      assert.equal((error as ControlError).code, 'UNAVAILABLE');
      assert.match((error as Error).message, /did not start: .*database is locked/);
      return true;
    });
  });

  it('fails waiting commands when the engine process goes away, instead of hanging', async () => {
    const { port1, port2 } = new MessageChannel();
    const client = new EngineChannelClient(port2);
    // The engine side never answers, as a crashed process would not.
    port1.on('message', () => undefined);
    const pending = client.invoke('node.status', {});
    client.close('The Peerdial engine stopped (exit code 1).');
    await assert.rejects(pending, { code: 'UNAVAILABLE', message: 'The Peerdial engine stopped (exit code 1).' });
    await assert.rejects(client.invoke('node.status', {}), { code: 'UNAVAILABLE' });
    assert.equal(await client.stop(100), false);
    port1.close();
  });

  it('ignores frames that are not part of the protocol', async () => {
    const f = await startHostedEngine();
    fixtures.push(f);
    await f.client.ready;
    const { port1, port2 } = new MessageChannel();
    // Junk sent straight to a client and to a host must not break either.
    const client = new EngineChannelClient(port2);
    for (const junk of [null, 42, 'ready', { kind: 'result' }, { kind: 'result', id: 'x', envelope: {} }, { kind: 'event', subscription: 1 }]) port1.postMessage(junk);
    port1.postMessage({ kind: 'ready' });
    await client.ready;
    client.close();
    port1.close();
    assert.equal((await f.client.invoke('node.status', {})).sipPort, f.sipPort);
  });
});
