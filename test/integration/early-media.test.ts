// Early media (RFC 3960): a phone that answers our INVITE with a 183 and SDP, then plays a tone
// before it picks up (as a network's ringback or "the number you have called..." does). The
// call shows it is ringing with early media, which the app plays instead of its own ringback,
// and what the callee sent before the answer is heard (here: in the --record file).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { decodeWav } from '../../native/wire/audio/wav.js';
import { BarePhone } from '../support/bare-phone.js';
import { toneHz } from '../support/calls.js';
import { EngineHarness } from '../support/engines.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

describe('early media (RFC 3960)', () => {
  let node: Engine;
  let dir: string;
  let recording: string;
  const seen: CallView[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-early-'));
    recording = path.join(dir, 'heard.wav');
    node = await engines.start('nell', { recordFile: recording });
    node.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') seen.push(item.data as CallView);
    });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('plays what the phone sends after its 183, while the call still rings', async () => {
    const phone = await BarePhone.open();
    phone.earlyMedia = { seconds: 2, hz: 800 };
    try {
      const { id } = await node.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
      const ringing = await until('ringing with early media', async () => seen.find((v) => v.id === id && v.state === 'ringing' && v.earlyMedia));
      assert.equal(ringing.answeredAt, undefined, 'not answered yet');
      await until('the answer', async () => seen.find((v) => v.id === id && v.state === 'active'));
      const active = seen.filter((v) => v.id === id).at(-1)!;
      assert.equal(active.earlyMedia, undefined, 'once answered, it is a call like any other');
      await node.api.invoke('call.hangup', { id });
      // The phone sent its tone only before answering: whatever of it was recorded came early.
      const heard = await until('the recording, settled', async () => {
        const bytes = await readFile(recording);
        return bytes.readUInt32LE(40) > 0 && bytes.readUInt32LE(40) === bytes.length - 44 ? decodeWav(bytes) : undefined;
      });
      const loud = heard.samples.filter((x) => Math.abs(x) > 2000).length / heard.sampleRate;
      assert.ok(loud > 1, `${loud.toFixed(2)} s of the early tone heard`);
      const hz = toneHz(heard.samples.subarray(0, heard.sampleRate * 2), heard.sampleRate);
      assert.ok(hz !== undefined && Math.abs(hz - 800) < 20, `heard ${hz} Hz before the answer, the phone played 800 Hz`);
    } finally {
      phone.close();
    }
  });
});
