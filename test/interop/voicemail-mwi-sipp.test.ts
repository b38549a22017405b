// RFC 3842 message waiting, seen by sipp as a desk phone of bob's: it subscribes to
// message-summary for its AOR with its digest credentials and is told nothing waits; alice then
// leaves bob a voice message, and the phone is told one new voice message waits.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RecordingView } from '../../native/control/api.js';
import { requireSipp, startSipp } from '../peers/sipp.js';
import { writeTone } from '../support/calls.js';
import { controlOf, untilFoundInOverlay, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

describe('voice messages light a phone\'s message-waiting lamp (sipp, RFC 3842)', () => {
  let dir: string;
  let alice: NodeProcess;
  let bob: NodeProcess;
  let aliceApi: NodeControl;
  let bobApi: NodeControl;

  before(async () => {
    requireSipp();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-mwi-'));
    const voice = await writeTone(path.join(dir, 'alice-speaks.wav'), 440, 5);
    bob = await startNode({ user: 'bob', args: ['--refresh-seconds', '5'] });
    alice = await startNode({ user: 'alice', args: ['--bootstrap', `127.0.0.1:${bob.sipPort}`, '--refresh-seconds', '5', '--play', voice] });
    aliceApi = controlOf(alice);
    bobApi = controlOf(bob);
    await untilFoundInOverlay(alice, 'bob');
  });

  after(async () => {
    aliceApi?.close();
    bobApi?.close();
    await Promise.all([alice, bob].map((n) => n?.stop()));
    await Promise.all([alice, bob].filter(Boolean).map((n) => removeDir(n.dataDir)));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the phone hears "no messages", then "1 new voice message" once alice leaves one', async () => {
    const phone = await bobApi.invoke('phones.add', { name: 'sipp' });
    const ready = path.join(dir, 'subscribed');
    const sipp = startSipp({
      scenario: 'subscribe-mwi.xml',
      remote: phone.registrar,
      service: 'bob',
      localPort: await freePort(),
      keys: { domain: 'peerdial', ready_file: ready },
      extraArgs: ['-au', phone.username, '-ap', phone.password],
      timeoutS: 90,
    });
    await until('the phone subscribed and heard nothing waits', async () => existsSync(ready), 20_000).catch(async (error: Error) => {
      sipp.stop();
      throw new Error(`${error.message}\n${(await sipp.done).output.slice(-3_000)}`);
    });

    const states: RecordingView[] = [];
    const unsubscribe = aliceApi.subscribe(undefined, (item) => {
      if ('type' in item && item.type === 'voicemail.recording') states.push(item.data as RecordingView);
    });
    try {
      const started = await aliceApi.invoke('voicemail.record', { to: 'bob' });
      await until('2 s recorded', async () => states.some((s) => s.id === started.id && s.elapsedMs >= 2_000));
      const left = await aliceApi.invoke('voicemail.finish', { id: started.id });
      assert.equal(left.state, 'sent', left.reason);
    } finally {
      unsubscribe();
    }
    const run = await sipp.done;
    assert.equal(run.successful, 1, run.output.slice(0, 3_000));
    assert.equal((await bobApi.invoke('voicemail.settings', {})).unheard, 1);
  });
});
