// sipp floods a node with INVITEs it never ACKs (2,000 a second for 10 s, from another loopback
// address) while the node's user is in a call with another Peerdial user: the call keeps its
// audio, its BYE still gets through, and the flood is refused 503 past its limit (issue 21).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../native/roots/node-engine.js';
import { requireSipp, runSipp } from '../peers/sipp.js';
import { CallEvents, writeTone } from '../support/calls.js';
import { freePort, removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';

const dirs: string[] = [];
const engines: Engine[] = [];

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await Promise.all(dirs.map(removeDir));
});

describe('an INVITE flood from sipp during a call', { timeout: 120_000 }, () => {
  let alice: Engine;
  let bob: Engine;
  before(async () => {
    requireSipp();
    const audio = await tempDataDir('peerdial-audio-');
    dirs.push(audio);
    for (const [user, hz] of [['alice', 440], ['bob', 1000]] as const) {
      const dataDir = await tempDataDir();
      dirs.push(dataDir);
      const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName: user }, mdns: false, multicastRegister: false, playFile: await writeTone(path.join(audio, `${user}.wav`), hz, 60) });
      engines.push(engine);
      if (user === 'alice') alice = engine;
      else bob = engine;
    }
  });

  it('keeps the call\'s audio and its BYE while 20,000 INVITEs are refused past their limit', async () => {
    const aliceCalls = new CallEvents(alice);
    const bobCalls = new CallEvents(bob);
    try {
      const dialled = await alice.api.invoke('call.dial', { to: bob.sipContact! });
      const ringing = await bobCalls.waitFor('alice ringing at bob', (v) => v.state === 'incoming');
      await bob.api.invoke('call.answer', { id: ringing.id });
      await aliceCalls.waitFor('the answer at alice', (v) => v.id === dialled.id && v.state === 'active');
      const heard = async () => (await bob.api.invoke('call.list', {})).find((c) => c.id === ringing.id)?.quality?.packetsReceived ?? 0;
      await until('audio at bob', async () => (await heard()) > 50);

      const before = { packets: await heard(), at: Date.now(), refused: bob.status().limits!.refused.invite };
      const flood = await runSipp({
        scenario: 'invite-flood.xml',
        remote: `127.0.0.1:${bob.sip.port}`,
        service: 'bob',
        localPort: await freePort(),
        rate: 2_000,
        calls: 20_000,
        timeoutS: 40,
        extraArgs: ['-i', '127.0.0.70', '-default_behaviors', 'none'],
      });
      const seconds = (Date.now() - before.at) / 1000;
      const packets = (await heard()) - before.packets;
      const limits = bob.status().limits!;
      const refused = limits.refused.invite - before.refused;
      console.log(`flood: ${flood.successful} INVITEs sent in ${seconds.toFixed(1)} s; bob refused ${refused} (${limits.unanswered} unanswered), heard ${packets} packets (${(packets / seconds).toFixed(1)}/s)`);
      assert.equal(flood.successful, 20_000, flood.output.slice(-1_500));
      // The burst of 50 and 20 a second rang; everything else was refused.
      assert.ok(limits.sources.some((source) => source.address === '127.0.0.70' && source.method === 'invite'), JSON.stringify(limits.sources));
      assert.ok(refused >= 20_000 - 50 - 20 * Math.ceil(seconds) - 1, `refused ${refused}`);
      // Opus at 20 ms is 50 packets a second: the call kept (nearly) all of its audio.
      assert.ok(packets >= 0.9 * 50 * seconds, `bob heard ${packets} packets in ${seconds.toFixed(1)} s`);
      const [stillUp] = (await alice.api.invoke('call.list', {})).filter((c) => c.id === dialled.id);
      assert.equal(stillUp?.state, 'active');

      await alice.api.invoke('call.hangup', { id: dialled.id });
      const ended = await bobCalls.waitFor('the end at bob', (v) => v.id === ringing.id && v.state === 'ended');
      assert.equal(ended.endReason, 'remote-hangup');
    } finally {
      aliceCalls.close();
      bobCalls.close();
      for (const engine of engines) for (const call of await engine.api.invoke('call.list', {})) await engine.api.invoke('call.hangup', { id: call.id }).catch(() => undefined);
    }
  });
});
