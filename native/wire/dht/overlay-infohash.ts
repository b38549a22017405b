// Where a Peerdial overlay's members announce themselves in the BitTorrent mainline DHT (BEP 5):
// a 20-byte "infohash" no torrent has, derived from the overlay's name, so that every install of
// the same overlay looks in the same place and no two overlays share one.
//
//   infohash = SHA-1("peerdial-overlay-v1:" || lowercase(overlay name))
import { createHash } from 'node:crypto';

export const OVERLAY_INFOHASH_LABEL = 'peerdial-overlay-v1:';

export function overlayInfohash(overlay: string): Buffer {
  return createHash('sha1').update(OVERLAY_INFOHASH_LABEL + overlay.toLowerCase()).digest();
}
