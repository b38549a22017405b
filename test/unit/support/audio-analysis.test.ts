// The yardstick of the call interop tests must itself be right: it has to find a voice after
// everything a call does to it (G.711, delay, resampling, concealed losses) and must not find
// it where there is only silence, noise or another voice.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { decodeG711, encodeG711, type G711Law } from '../../../native/wire/audio/g711.js';
import type { WavAudio } from '../../../native/wire/audio/wav.js';
import {
  audioTempDir,
  bestMatch,
  durationSeconds,
  makeSpeechWav,
  readWav,
  rmsDbfs,
  SILENCE_DBFS,
  soundDbfs,
  soundSeconds,
} from '../../support/audio-analysis.js';
import { removeDir } from '../../support/node-process.js';
import { seededRandom } from '../../support/random.js';

const RATE = 8000;

/**
 * Speech-like test audio: tone bursts of random pitch, length and loudness with pauses between,
 * like syllables. A seed makes another "utterance" with the same statistics.
 */
function syllables(seed: number, seconds: number, sampleRate = RATE): WavAudio {
  const random = seededRandom(seed);
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  let at = 0;
  while (at < samples.length) {
    const length = Math.round((0.06 + random() * 0.25) * sampleRate);
    const pause = Math.round((0.03 + random() * 0.2) * sampleRate);
    const pitch = 150 + random() * 900;
    const peak = 3_000 + random() * 15_000;
    for (let i = 0; i < length && at + i < samples.length; i++) {
      const shape = Math.sin((Math.PI * i) / length); // rises and falls like a syllable
      samples[at + i] = Math.round(peak * shape * Math.sin((2 * Math.PI * pitch * i) / sampleRate));
    }
    at += length + pause;
  }
  return { sampleRate, samples };
}

function silence(seconds: number, sampleRate = RATE): Int16Array {
  return new Int16Array(Math.round(seconds * sampleRate));
}

function concat(sampleRate: number, ...parts: Int16Array[]): WavAudio {
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    samples.set(p, at);
    at += p.length;
  }
  return { sampleRate, samples };
}

function throughG711(audio: WavAudio, law: G711Law): WavAudio {
  return { sampleRate: audio.sampleRate, samples: decodeG711(law, encodeG711(law, audio.samples)) };
}

function withNoise(audio: WavAudio, amplitude: number, seed: number): WavAudio {
  const random = seededRandom(seed);
  return { sampleRate: audio.sampleRate, samples: audio.samples.map((s) => Math.max(-32768, Math.min(32767, s + Math.round((random() * 2 - 1) * amplitude)))) };
}

/** Every other sample, after a 2-tap average against aliasing: a crude 16 kHz -> 8 kHz resampler. */
function halveRate(audio: WavAudio): WavAudio {
  const out = new Int16Array(Math.floor(audio.samples.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = Math.round((audio.samples[2 * i] + audio.samples[2 * i + 1]) / 2);
  return { sampleRate: audio.sampleRate / 2, samples: out };
}

/** What a jitter buffer does under loss: some 20 ms frames replaced by silence, some played twice. */
function concealedLosses(audio: WavAudio, seed: number, lossRate: number): WavAudio {
  const random = seededRandom(seed);
  const frame = audio.sampleRate / 50;
  const out: number[] = [];
  for (let at = 0; at + frame <= audio.samples.length; at += frame) {
    const chunk = audio.samples.subarray(at, at + frame);
    const roll = random();
    if (roll < lossRate) out.push(...new Int16Array(frame));
    else if (roll < lossRate * 1.5) out.push(...chunk, ...chunk);
    else out.push(...chunk);
  }
  return { sampleRate: audio.sampleRate, samples: Int16Array.from(out) };
}

describe('audio analysis', () => {
  it('measures-a-full-scale-sine-at-minus-3-dbfs-and-digital-silence-at-minus-infinity', () => {
    const sine = Int16Array.from({ length: RATE }, (_, i) => Math.round(32767 * Math.sin((2 * Math.PI * 440 * i) / RATE)));
    assert.ok(Math.abs(rmsDbfs(sine) - -3.01) < 0.05, String(rmsDbfs(sine)));
    assert.equal(rmsDbfs(silence(1)), -Infinity);
    assert.equal(durationSeconds({ sampleRate: RATE, samples: silence(2.5) }), 2.5);
  });

  it('counts-only-the-sound-in-a-recording-mostly-silent', () => {
    const speech = syllables(1, 3);
    const recording = concat(RATE, silence(2), speech.samples, silence(5));
    assert.ok(Math.abs(soundSeconds(recording) - soundSeconds(speech)) < 0.01);
    assert.ok(soundSeconds(speech) > 1.5 && soundSeconds(speech) <= 3, String(soundSeconds(speech)));
    // The sound's own loudness, not diluted by the silence around it.
    assert.ok(Math.abs(soundDbfs(recording) - soundDbfs(speech)) < 0.1);
    assert.ok(soundDbfs(speech) > -25, String(soundDbfs(speech)));
  });

  it('hears-nothing-in-g711-idle-noise', () => {
    // A quiet line: a few steps of quantisation noise, as a codec produces from silence.
    const idle = throughG711(withNoise({ sampleRate: RATE, samples: silence(5) }, 8, 2), 'mu');
    assert.equal(soundSeconds(idle), 0);
    assert.ok(soundDbfs(idle) === -Infinity);
    assert.ok(rmsDbfs(idle.samples) < SILENCE_DBFS);
  });

  for (const law of ['mu', 'a'] as const) {
    it(`finds-the-sent-voice-and-its-delay-after-${law}-law-coding-and-line-noise`, () => {
      const sent = syllables(3, 4);
      const received = withNoise(throughG711(concat(RATE, silence(0.73), sent.samples, silence(3)), law), 200, 4);
      const match = bestMatch(sent, received);
      assert.ok(match.correlation > 0.95, JSON.stringify(match));
      assert.ok(Math.abs(match.offsetSeconds - 0.73) <= 0.011, JSON.stringify(match));
      assert.equal(match.overlap, 1);
    });
  }

  it('finds-a-16-khz-voice-in-an-8-khz-recording', () => {
    const sent = syllables(5, 4, 16_000);
    const received = throughG711(halveRate(concat(16_000, silence(1, 16_000), sent.samples)), 'a');
    const match = bestMatch(sent, received);
    assert.ok(match.correlation > 0.9, JSON.stringify(match));
    assert.ok(Math.abs(match.offsetSeconds - 1) <= 0.011, JSON.stringify(match));
  });

  it('still-finds-the-voice-when-a-tenth-of-the-frames-were-concealed', () => {
    const sent = syllables(6, 4);
    const received = concealedLosses(throughG711(sent, 'mu'), 7, 0.1);
    const match = bestMatch(sent, received);
    assert.ok(match.correlation > 0.7, JSON.stringify(match));
  });

  it('finds-the-tail-of-a-voice-whose-start-the-recording-missed', () => {
    const sent = syllables(8, 4);
    const received = throughG711(concat(RATE, sent.samples.subarray(RATE), silence(2)), 'mu');
    const match = bestMatch(sent, received);
    assert.ok(match.correlation > 0.95, JSON.stringify(match));
    assert.ok(Math.abs(match.offsetSeconds - -1) <= 0.011, JSON.stringify(match));
    assert.ok(Math.abs(match.overlap - 0.75) < 0.01, JSON.stringify(match));
  });

  it('does-not-mistake-another-voice-or-noise-for-the-sent-one', () => {
    const sent = syllables(9, 4);
    for (const other of [syllables(10, 8), syllables(11, 8), withNoise({ sampleRate: RATE, samples: silence(8) }, 8_000, 12)]) {
      const match = bestMatch(sent, throughG711(other, 'mu'));
      assert.ok(match.correlation < 0.6, JSON.stringify(match));
    }
  });

  it('finds-nothing-in-a-recording-of-silence', () => {
    assert.equal(bestMatch(syllables(13, 3), { sampleRate: RATE, samples: silence(6) }).correlation, 0);
  });

  describe('spoken test files (espeak-ng and sox)', () => {
    let dir: string;
    after(async () => {
      if (dir) await removeDir(dir);
    });

    it('makes-two-phrases-at-8-khz-that-match-themselves-through-g711-and-not-each-other', async () => {
      dir = await audioTempDir();
      const first = makeSpeechWav(dir, 'first', 'The quick brown fox jumps over the lazy dog.', { padSeconds: 3 });
      const second = makeSpeechWav(dir, 'second', 'Seven eight nine ten, testing the line.', { voice: 'en+f3', padSeconds: 3 });
      const a = readWav(first.speech);
      const b = readWav(second.speech);
      const aPadded = readWav(first.padded);
      assert.equal(a.sampleRate, 8000);
      assert.ok(durationSeconds(a) > 1.5, String(durationSeconds(a)));
      assert.ok(Math.abs(durationSeconds(aPadded) - durationSeconds(a) - 3) < 0.01);
      assert.ok(soundDbfs(a) > -30, String(soundDbfs(a)));
      assert.ok(bestMatch(a, throughG711(aPadded, 'a')).correlation > 0.95);
      assert.ok(bestMatch(a, throughG711(b, 'mu')).correlation < 0.5);
      assert.ok(bestMatch(b, throughG711(a, 'mu')).correlation < 0.5);
    });
  });
});
