// Voice messages: a caller leaves one for a user who is offline; it waits in the overlay in
// encrypted chunks, reaches the user when they come back (the caller gone by then), plays as it
// was spoken, and tells the caller it was heard. Chunks a storing node changed are refused.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallView, MessageView, PlaybackView, RecordingView } from '../../native/control/api.js';
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { mailboxChunkSlot, mailboxKey, type MailboxValue } from '../../native/wire/overlay/record.js';
import { audioTempDir, bestMatch, durationSeconds, makeSpeechWav, readWav, requireAudioTools, soundSeconds } from '../support/audio-analysis.js';
import { removeDir, tempDataDir } from '../support/node-process.js';
import { until } from '../support/poll.js';
import { FAST_CHORD as FAST } from '../support/engines.js';

const OVERLAY = 'peerdial';
const dirs = new Map<string, string>();
const running = new Map<string, Engine>();
let audioDir: string;
let speech: string;

async function start(user: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  if (!dirs.has(user)) dirs.set(user, await tempDataDir());
  const bootstrap = user === 'ann' ? [] : [`127.0.0.1:${running.get('ann')!.sip.port}`];
  const engine = await Engine.start({
    dataDir: dirs.get(user)!,
    bind: '127.0.0.1',
    sipPort: 0,
    user: { userName: user },
    bootstrap,
    overlayConfig: FAST,
    registrationRefreshMs: 2_000,
    mailboxPollMs: 500,
    ...options,
  });
  running.set(user, engine);
  return engine;
}

async function stop(user: string): Promise<void> {
  await running.get(user)?.stop();
  running.delete(user);
}

async function history(engine: Engine, peer: string): Promise<MessageView[]> {
  return engine.api.invoke('im.history', { peer });
}

/** Records what `engine` says into a voice message for `to` (or, with `to` undefined, its greeting), `seconds` long, and sends it. */
async function leaveMessage(engine: Engine, to: string | undefined, seconds: number, states: RecordingView[] = []): Promise<RecordingView> {
  const unsubscribe = engine.api.subscribe(undefined, (item) => {
    if ('type' in item && item.type === 'voicemail.recording') states.push(item.data as RecordingView);
  });
  try {
    const started = to === undefined ? await engine.api.invoke('voicemail.recordGreeting', {}) : await engine.api.invoke('voicemail.record', { to });
    await until(`${seconds} s recorded`, async () => states.some((s) => s.id === started.id && s.elapsedMs >= seconds * 1000));
    return await engine.api.invoke('voicemail.finish', { id: started.id });
  } finally {
    unsubscribe();
  }
}

/** Plays a voice message to its end: resolves with the last playback view. */
async function listen(engine: Engine, messageId: number): Promise<PlaybackView> {
  const views: PlaybackView[] = [];
  const unsubscribe = engine.api.subscribe(undefined, (item) => {
    if ('type' in item && item.type === 'voicemail.playback') views.push(item.data as PlaybackView);
  });
  try {
    await engine.api.invoke('voicemail.play', { messageId });
    return await until('played to the end', async () => views.find((v) => v.messageId === messageId && !v.playing));
  } finally {
    unsubscribe();
  }
}

describe('voice messages for a user who is offline', () => {
  before(async () => {
    requireAudioTools();
    audioDir = await audioTempDir();
    speech = makeSpeechWav(audioDir, 'message', 'Hello Cat, this is Ben. Call me back about the boat on Friday.', { sampleRate: 16_000 }).speech;
    await start('ann');
    await start('ben', { playFile: speech });
    await start('cat');
    await until('every user registered with a key to seal to', async () => {
      for (const user of ['ann', 'ben', 'cat']) {
        const found = await running.get('ann')!.overlay.lookupAor(user).catch(() => undefined);
        if (!found?.contacts.length || !found.x25519 || !found.owner) return false;
      }
      return true;
    });
    // ben and cat are buddies: every voice message of a buddy waits in the mailbox and is receipted
    // (a stranger may leave one, into Requests, with no delivery receipt: offline-messages.test.ts).
    await running.get('ben')!.api.invoke('buddy.add', { aor: 'cat' });
    await until("ben's request at cat", async () => (await running.get('cat')!.api.invoke('buddy.list', {})).some((b) => b.aor === 'sip:ben@peerdial' && b.state === 'incoming'));
    await running.get('cat')!.api.invoke('buddy.accept', { aor: 'sip:ben@peerdial' });
    await until('buddies both ways', async () => (await running.get('ben')!.api.invoke('buddy.list', {})).some((b) => b.aor === 'sip:cat@peerdial' && b.state === 'accepted'));
  });
  after(async () => {
    for (const user of [...running.keys()]) await stop(user);
    await Promise.all([...dirs.values()].map(removeDir));
    if (audioDir) await removeDir(audioDir);
  });

  it('a call nobody answers offers a voice message; it is kept encrypted, reaches the user later, plays as spoken, and the caller learns it was heard', async () => {
    await stop('cat');
    const ann = running.get('ann')!;
    const ben = running.get('ben')!;
    await until("cat's device gone from the overlay", async () => (await ann.overlay.lookupAor('cat')).contacts.length === 0);

    const views: CallView[] = [];
    const unsubscribe = ben.api.subscribe(undefined, (item) => {
      if ('type' in item && item.type === 'call.changed') views.push(item.data as CallView);
    });
    try {
      const call = await ben.api.invoke('call.dial', { to: 'cat' });
      const ended = await until('the unanswered call offers a voice message', async () => views.find((v) => v.id === call.id && v.state === 'ended' && v.voicemail));
      assert.equal(ended.endReason, 'unreachable');
    } finally {
      unsubscribe();
    }

    const seconds = durationSeconds(readWav(speech)) + 0.5;
    const left = await leaveMessage(ben, 'cat', seconds);
    assert.equal(left.state, 'sent', left.reason);
    const mine = await until('the message is kept for cat', async () => (await history(ben, 'sip:cat@peerdial')).find((m) => m.voice && m.status === 'stored'));
    assert.equal(mine.voice!.durationMs, left.elapsedMs, 'its length is what was recorded');
    assert.ok(mine.voice!.durationMs >= seconds * 1000, `its length, ${mine.voice!.durationMs} ms`);

    // What the overlay holds is ciphertext: chunk 0 is there, and it is not Opus in the clear.
    const [chunk] = await ann.overlay.fetchRecords(mailboxKey('cat', OVERLAY), { slot: mailboxChunkSlot(left.id, 0) });
    assert.ok(chunk, 'the first chunk is in the overlay');
    const bytes = Buffer.from((chunk.value as MailboxValue).chunk!, 'base64url');
    assert.notEqual(bytes.readUInt16BE(0), 62, 'the chunk does not start with a plain Opus packet length');

    await stop('ben');
    const recordFile = path.join(audioDir, 'cat-heard.wav');
    const cat = await start('cat', { recordFile });
    const received = await until('cat has the voice message', async () => (await history(cat, 'sip:ben@peerdial')).find((m) => m.voice));
    assert.equal(received.direction, 'in');
    assert.equal(received.voice!.listened, false);
    assert.equal(received.encrypted, true);
    assert.equal((await cat.api.invoke('voicemail.settings', {})).unheard, 1);

    const benAgain = await start('ben', { playFile: speech });
    await until('ben sees it delivered', async () => (await history(benAgain, 'sip:cat@peerdial')).find((m) => m.voice)?.status === 'delivered');

    const done = await listen(cat, received.id);
    assert.ok(Math.abs(done.positionMs - received.voice!.durationMs) <= 20, `played ${done.positionMs} of ${received.voice!.durationMs} ms`);
    await until('marked listened', async () => (await history(cat, 'sip:ben@peerdial')).find((m) => m.id === received.id)?.voice?.listened);
    assert.equal((await cat.api.invoke('voicemail.settings', {})).unheard, 0);
    await until('ben learns it was heard', async () => (await history(benAgain, 'sip:cat@peerdial')).find((m) => m.voice)?.status === 'read');

    assert.ok(existsSync(recordFile));
    const heard = readWav(recordFile);
    const match = bestMatch(readWav(speech), heard, { wideband: true });
    assert.ok(match.correlation >= 0.8, `what cat heard matches what ben said: correlation ${match.correlation.toFixed(2)}`);
  });

  it('a voice message whose chunk a storing node changed is refused, not played', async () => {
    const ann = running.get('ann')!;
    const ben = running.get('ben') ?? (await start('ben', { playFile: speech }));
    await stop('cat');
    await until("cat's device gone from the overlay", async () => (await ann.overlay.lookupAor('cat')).contacts.length === 0);
    const left = await leaveMessage(ben, 'cat', 2);
    assert.equal(left.state, 'sent', left.reason);

    // Every node holding chunk 0 flips a byte of its copy, as a hostile storing node would.
    const key = mailboxKey('cat', OVERLAY);
    const slot = mailboxChunkSlot(left.id, 0);
    let tampered = 0;
    for (const engine of running.values()) {
      for (const record of engine.overlay.node!.store.allUnder(key, 'mailbox')) {
        if (record.slot !== slot) continue;
        const value = record.value as MailboxValue;
        const bytes = Buffer.from(value.chunk!, 'base64url');
        bytes[40] ^= 0xff;
        value.chunk = bytes.toString('base64url');
        tampered++;
      }
    }
    assert.ok(tampered > 0, 'some node holds the chunk');

    const cat = await start('cat');
    await until('cat refused the tampered message', async () => cat.mailbox.stats.voiceTampered >= 1);
    const voices = (await history(cat, 'sip:ben@peerdial')).filter((m) => m.voice);
    assert.equal(voices.length, 1, 'only the first, good message is in the conversation');
  });

  it("a user's recorded greeting plays to a caller before the tone, from the overlay, while the user is offline", async () => {
    const ann = running.get('ann')!;
    const ben = running.get('ben') ?? (await start('ben', { playFile: speech }));
    const greeting = await leaveMessage(ben, undefined, 2);
    assert.equal(greeting.state, 'sent', greeting.reason);
    const view = await ben.api.invoke('voicemail.settings', {});
    assert.ok(view.greeting && view.greeting.durationMs >= 2_000 && view.greeting.durationMs <= 8_000, `greeting of ${view.greeting?.durationMs} ms`);
    await stop('ben');
    await until("ben's device gone from the overlay", async () => (await ann.overlay.lookupAor('ben')).contacts.length === 0);

    await stop('cat');
    const heard = path.join(audioDir, 'cat-greeting.wav');
    const cat = await start('cat', { recordFile: heard });
    const states: RecordingView[] = [];
    const left = await leaveMessage(cat, 'ben', 1, states);
    assert.equal(left.state, 'sent', left.reason);
    const greetingPlayed = states.filter((s) => s.state === 'greeting');
    assert.ok(greetingPlayed.length >= 1);
    await stop('cat');
    // What cat's speaker played before the tone: ben's greeting (his speech), then the tone.
    const recording = readWav(heard);
    assert.ok(soundSeconds(recording) >= 1, `cat heard ${soundSeconds(recording).toFixed(1)} s of sound before recording (the tone alone is 0.4 s)`);
    // The greeting is the start of what ben's --play file says.
    const said = readWav(speech);
    const opening = { sampleRate: said.sampleRate, samples: said.samples.subarray(0, Math.round((said.sampleRate * view.greeting!.durationMs) / 1000)) };
    const match = bestMatch(opening, recording, { wideband: true });
    assert.ok(match.correlation >= 0.7, `cat heard ben's greeting: correlation ${match.correlation.toFixed(2)}`);
  });
});
