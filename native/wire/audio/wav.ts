// RIFF/WAVE with 16-bit PCM (the format sox, baresip's sndfile and Chromium's fake capture
// use). Reading takes any channel count and returns the first channel; writing is mono.
export interface WavAudio {
  sampleRate: number;
  /** The first channel, as 16-bit signed samples. */
  samples: Int16Array;
}

export const WAV_HEADER_BYTES = 44;

/** Reads a PCM WAV file's bytes; throws an Error that says what is wrong. */
export function decodeWav(bytes: Buffer): WavAudio {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a WAV file (no RIFF/WAVE header)');
  }
  let offset = 12;
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new Error('WAV fmt chunk is too short');
      format = {
        tag: bytes.readUInt16LE(body),
        channels: bytes.readUInt16LE(body + 2),
        sampleRate: bytes.readUInt32LE(body + 4),
        bits: bytes.readUInt16LE(body + 14),
      };
      // WAVE_FORMAT_EXTENSIBLE keeps the real tag in its sub-format GUID's first two bytes.
      if (format.tag === 0xfffe && size >= 26) format.tag = bytes.readUInt16LE(body + 24);
    } else if (id === 'data') {
      if (!format) throw new Error('WAV data chunk before its fmt chunk');
      if (format.tag !== 1 || format.bits !== 16) throw new Error(`WAV must be 16-bit PCM (this one is format ${format.tag}, ${format.bits} bits)`);
      if (format.channels < 1) throw new Error('WAV has no channels');
      // A writer that never finished (a recording cut short) leaves the size at 0 or too big.
      const end = size === 0 || body + size > bytes.length ? bytes.length : body + size;
      const frames = Math.floor((end - body) / (2 * format.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = bytes.readInt16LE(body + i * 2 * format.channels);
      return { sampleRate: format.sampleRate, samples };
    }
    offset = body + size + (size & 1); // RIFF chunks are padded to even sizes
  }
  throw new Error('WAV has no data chunk');
}

/** The 44-byte header of a mono 16-bit PCM WAV holding `dataBytes` of samples. */
export function wavHeader(sampleRate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

export function encodeWav(audio: WavAudio): Buffer {
  const data = Buffer.alloc(audio.samples.length * 2);
  for (let i = 0; i < audio.samples.length; i++) data.writeInt16LE(audio.samples[i], i * 2);
  return Buffer.concat([wavHeader(audio.sampleRate, data.length), data]);
}
