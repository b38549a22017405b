// Draws Peerdial's app icon and writes build/icon.png (512 x 512, RGBA), the one image
// electron-builder turns into every platform's icon. Run: node build/make-icon.mjs [OUT.png]
// The logo: a ring of three peers on a rounded teal square, the same motif as the tray icon.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const SIZE = 512;
const BACKGROUND = [0x13, 0x6f, 0x63];
const FOREGROUND = [0xff, 0xff, 0xff];

function insideRoundedSquare(u, v) {
  const radius = 0.2;
  const cx = Math.min(Math.max(u, radius), 1 - radius);
  const cy = Math.min(Math.max(v, radius), 1 - radius);
  return Math.hypot(u - cx, v - cy) <= radius;
}

function insideRingOfPeers(u, v) {
  const dx = u - 0.5;
  const dy = v - 0.5;
  const d = Math.hypot(dx, dy);
  if (d >= 0.25 && d <= 0.29) return true;
  for (let k = 0; k < 3; k++) {
    const angle = -Math.PI / 2 + (k * 2 * Math.PI) / 3;
    if (Math.hypot(dx - 0.27 * Math.cos(angle), dy - 0.27 * Math.sin(angle)) <= 0.085) return true;
  }
  return false;
}

/** RGBA pixels, 4 x 4 samples per pixel for smooth edges. */
export function drawLogo(size = SIZE) {
  const pixels = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let square = 0;
      let mark = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const u = (x + (sx + 0.5) / n) / size;
          const v = (y + (sy + 0.5) / n) / size;
          if (!insideRoundedSquare(u, v)) continue;
          square++;
          if (insideRingOfPeers(u, v)) mark++;
        }
      }
      const at = (y * size + x) * 4;
      const t = square ? mark / square : 0;
      for (let c = 0; c < 3; c++) pixels[at + c] = Math.round(BACKGROUND[c] * (1 - t) + FOREGROUND[c] * t);
      pixels[at + 3] = Math.round((255 * square) / (n * n));
    }
  }
  return pixels;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([length, typed, crc]);
}

/** A PNG (ISO/IEC 15948) of 8-bit RGBA pixels: signature, IHDR, one IDAT, IEND. */
export function encodePng(rgba, width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: truecolour with alpha
  // compression, filter and interlace methods stay 0
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    // Each scanline starts with its filter type; 0 (None) keeps the encoder simple.
    rgba.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? fileURLToPath(new URL('./icon.png', import.meta.url));
  writeFileSync(out, encodePng(drawLogo(SIZE), SIZE, SIZE));
  process.stdout.write(`wrote ${out}\n`);
}
