// voicemail.storeMs and voicemail.fetchMs (issue 15): a 30 s voice message (speech-like audio,
// Opus at the voicemail bitrate) stored by one user's node into another's mailbox through the
// ring, and taken by the recipient's node: every chunk fetched, checked against the sealed
// manifest, decrypted, and the message kept in sqlite and acknowledged. The recording itself is
// real time and not part of either figure.
import { performance } from 'node:perf_hooks';
import type { Engine } from '../native/roots/node-engine.js';
import { VOICEMAIL_BITRATE } from '../native/services/im/index.js';
import { createOpusCodec, OPUS_SAMPLE_RATE } from '../native/wire/audio/opus.js';
import { packVoice } from '../native/wire/im/voice-message.js';
import { framesOf, speechLike } from '../test/support/speech-like.js';

const MESSAGE_SECONDS = 30;

function thirtySecondsOfOpus(): { audio: Buffer; durationMs: number } {
  const codec = createOpusCodec({ bitrate: VOICEMAIL_BITRATE, complexity: 5, packetLossPercent: 0 });
  codec.tune({ dtx: false });
  try {
    const frames = framesOf(speechLike(OPUS_SAMPLE_RATE, MESSAGE_SECONDS), OPUS_SAMPLE_RATE / 50);
    return { audio: packVoice(frames.map((f) => codec.encode(f))), durationMs: frames.length * 20 };
  } finally {
    codec.close();
  }
}

const percentile = (xs: number[], p: number) => Number([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))].toFixed(1));

/** `sender` leaves `rounds` 30 s messages for `recipient` (whose own mailbox poll must be off), which takes each at once. */
export async function measureVoicemail(sender: Engine, recipient: Engine, rounds = 5) {
  const voice = thirtySecondsOfOpus();
  const to = recipient.overlay.ownAor()!;
  const found = await sender.overlay.lookupAor(to);
  if (!found.owner || !found.x25519) throw new Error(`${to} has no keys in the overlay`);
  const store: number[] = [];
  const fetch: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const callId = `bench-voicemail-${Date.now()}-${i}`;
    const t0 = performance.now();
    const kept = await sender.mailbox.store({ to, callId, seq: i + 1, at: Date.now(), text: 'Voice message' }, { owner: found.owner, x25519: found.x25519 }, voice);
    store.push(performance.now() - t0);
    if (!kept.ok) throw new Error(`the voice message was not kept: ${kept.reason}`);
    const before = recipient.mailbox.stats.voiceReceived;
    const t1 = performance.now();
    await recipient.mailbox.poll();
    fetch.push(performance.now() - t1);
    if (recipient.mailbox.stats.voiceReceived !== before + 1) throw new Error(`the recipient did not take the voice message (${JSON.stringify(recipient.mailbox.stats)})`);
  }
  return {
    messageSeconds: MESSAGE_SECONDS,
    audioBytes: voice.audio.length,
    storeMs: { p50: percentile(store, 50), max: percentile(store, 100), samples: store.length },
    fetchMs: { p50: percentile(fetch, 50), max: percentile(fetch, 100), samples: fetch.length },
  };
}
