// The tray icon, drawn in code so it needs no image file inside the app: Peerdial's ring of
// peers (as build/icon.png), green while online and grey while offline.
export const TRAY_ICON_SIZE = 32;
export const ONLINE_COLOR = [0x2e, 0xa0, 0x5a] as const;
export const OFFLINE_COLOR = [0x8a, 0x8f, 0x98] as const;

/** Raw BGRA pixels (what nativeImage.createFromBitmap takes), `size` x `size`. */
export function drawTrayIcon(online: boolean, size = TRAY_ICON_SIZE): Buffer {
  const [r, g, b] = online ? ONLINE_COLOR : OFFLINE_COLOR;
  const pixels = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let covered = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          if (inRingOfPeers((x + (sx + 0.5) / samples) / size, (y + (sy + 0.5) / samples) / size)) covered++;
        }
      }
      const alpha = Math.round((255 * covered) / (samples * samples));
      const at = (y * size + x) * 4;
      pixels[at] = b;
      pixels[at + 1] = g;
      pixels[at + 2] = r;
      pixels[at + 3] = alpha;
    }
  }
  return pixels;
}

/** A ring with three peers on it, in unit coordinates (0..1). */
export function inRingOfPeers(u: number, v: number): boolean {
  const dx = u - 0.5;
  const dy = v - 0.5;
  const d = Math.hypot(dx, dy);
  if (d >= 0.28 && d <= 0.36) return true;
  for (let k = 0; k < 3; k++) {
    const angle = -Math.PI / 2 + (k * 2 * Math.PI) / 3;
    if (Math.hypot(dx - 0.32 * Math.cos(angle), dy - 0.32 * Math.sin(angle)) <= 0.13) return true;
  }
  return false;
}
