// WAV files as call audio: the source plays once then gives silence, other rates are resampled,
// and the recorder leaves a valid file whose header sizes match what it wrote.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { WavFileSource, WavRecorder } from '../../../native/services/calls/wav-file-audio.js';
import { decodeWav, encodeWav } from '../../../native/wire/audio/wav.js';

const dir = await mkdtemp(path.join(tmpdir(), 'peerdial-wav-'));
after(() => rm(dir, { recursive: true, force: true }));

function tone(rate: number, hz: number, seconds: number): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * hz * i) / rate)));
}

/** Where the spectrum peaks, by brute-force DFT over 50 Hz bins up to 4 kHz. */
function dominantHz(samples: Int16Array, rate: number): number {
  let best = 0;
  let bestPower = -1;
  for (let hz = 50; hz < 4000; hz += 10) {
    let re = 0;
    let im = 0;
    for (let i = 0; i < samples.length; i++) {
      re += samples[i] * Math.cos((2 * Math.PI * hz * i) / rate);
      im += samples[i] * Math.sin((2 * Math.PI * hz * i) / rate);
    }
    if (re * re + im * im > bestPower) {
      bestPower = re * re + im * im;
      best = hz;
    }
  }
  return best;
}

describe('wav file audio', () => {
  it('plays-a-file-once-in-20ms-frames-then-gives-silence', async () => {
    const file = path.join(dir, 'short.wav');
    await writeFile(file, encodeWav({ sampleRate: 8000, samples: tone(8000, 440, 0.05) })); // 400 samples
    const source = await WavFileSource.load(file);
    const frames = [source.read(8000), source.read(8000), source.read(8000), source.read(8000)];
    assert.deepEqual(frames.map((f) => f?.length), [160, 160, 160, undefined]);
    // The last frame is padded with silence past the file's end.
    assert.equal(frames[2]![100], 0);
    assert.ok(source.finished);
  });

  it('plays-a-48khz-file-to-an-8khz-call-keeping-its-pitch', () => {
    const out = new WavFileSource({ sampleRate: 48000, samples: tone(48000, 440, 0.5) }).samplesAt(8000);
    assert.equal(out.length, 4000);
    assert.equal(dominantHz(out, 8000), 440);
  });

  it('plays-a-4khz-file-to-an-8khz-call-keeping-its-pitch', () => {
    const out = new WavFileSource({ sampleRate: 4000, samples: tone(4000, 300, 0.5) }).samplesAt(8000);
    assert.equal(out.length, 4000);
    assert.equal(dominantHz(out, 8000), 300);
  });

  it('goes-on-from-the-same-instant-when-the-call-changes-rate', () => {
    const source = new WavFileSource({ sampleRate: 8000, samples: tone(8000, 440, 0.1) });
    assert.equal(source.read(8000)?.length, 160);
    assert.equal(source.read(48000)?.length, 960);
    assert.equal(source.read(16000)?.length, 320);
    assert.equal(source.read(8000)?.length, 160);
    assert.equal(source.read(8000)?.length, 160);
    assert.equal(source.read(8000), undefined, 'five frames of 20 ms are the whole 0.1 s');
  });

  it('says-which-file-is-not-a-wav', async () => {
    const file = path.join(dir, 'junk.wav');
    await writeFile(file, 'not audio');
    await assert.rejects(WavFileSource.load(file), /junk\.wav: not a WAV file/);
  });

  it('records-frames-and-fixes-the-header-sizes-on-close', async () => {
    const file = path.join(dir, 'rec.wav');
    const recorder = await WavRecorder.create(file);
    const signal = tone(48000, 1000, 0.1);
    for (let i = 0; i < signal.length; i += 960) recorder.write(signal.subarray(i, i + 960), 48000);
    await recorder.close();
    const bytes = await readFile(file);
    assert.equal(bytes.readUInt32LE(40), signal.length * 2);
    assert.equal(bytes.readUInt32LE(4), 36 + signal.length * 2);
    assert.deepEqual(decodeWav(bytes).samples, signal);
  });

  it('is-a-whole-wav-after-each-call-while-it-keeps-recording', async () => {
    const file = path.join(dir, 'calls.wav');
    const recorder = await WavRecorder.create(file);
    const first = tone(48000, 500, 0.2);
    for (let i = 0; i < first.length; i += 960) recorder.write(first.subarray(i, i + 960), 48000);
    await recorder.settle();
    // Read as sox would while the node runs: the sizes in the header say what is there.
    let bytes = await readFile(file);
    assert.equal(bytes.readUInt32LE(40), first.length * 2, 'data size after the first call');
    assert.equal(bytes.length, 44 + first.length * 2);
    // A call on G.711 is recorded at 48 kHz too, so one file holds calls of every codec.
    const second = tone(8000, 700, 0.1);
    for (let i = 0; i < second.length; i += 160) recorder.write(second.subarray(i, i + 160), 8000);
    await recorder.settle();
    bytes = await readFile(file);
    const total = first.length + second.length * 6;
    assert.equal(bytes.readUInt32LE(40), total * 2, 'data size after the second call');
    assert.equal(bytes.readUInt32LE(4), 36 + total * 2);
    await recorder.close();
    const recorded = decodeWav(await readFile(file));
    assert.equal(recorded.sampleRate, 48000);
    assert.equal(recorded.samples.length, total);
    assert.equal(dominantHz(recorded.samples.subarray(first.length + 960), 48000), 700);
  });
});
