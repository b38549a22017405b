// G.711 and jitter buffer throughput, on one core. Writes bench/results/g711.json.
// A call needs 50 frames/s each way, so these numbers bound how many calls the codec path allows.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeG711, encodeG711 } from '../native/wire/audio/g711.js';
import { JitterBuffer } from '../native/proto/media/jitter-buffer.js';

const FRAME = 160;
const DURATION_MS = 1000;

function rate(run: () => void): number {
  for (let i = 0; i < 2000; i++) run(); // warm up the JIT
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < DURATION_MS) {
    for (let i = 0; i < 1000; i++) run();
    count += 1000;
    elapsed = performance.now() - start;
  }
  return Math.round((count * 1000) / elapsed);
}

const pcm = Int16Array.from({ length: FRAME }, (_, i) => Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
const codes = encodeG711('mu', pcm);

const g711EncodeFramesPerSec = rate(() => encodeG711('mu', pcm));
const g711DecodeFramesPerSec = rate(() => decodeG711('mu', codes));

// One op = a push and the matching pop of a steady stream with light reordering.
const buffer = new JitterBuffer();
let seq = 0;
const jitterBufferOpsPerSec = rate(() => {
  const n = seq++;
  const arrival = n * 20 + (n % 7 === 3 ? 30 : 2);
  buffer.push({ seq: n & 0xffff, timestamp: (n * FRAME) >>> 0, payload: codes }, arrival);
  buffer.pop(n * 20 + 5);
});

const report = { g711EncodeFramesPerSec, g711DecodeFramesPerSec, jitterBufferOpsPerSec, frameSamples: FRAME, node: process.version };
const out = path.join('bench', 'results', 'g711.json');
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, JSON.stringify(report, null, 2) + '\n');
console.log(report);
