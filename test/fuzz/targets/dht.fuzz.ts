// BitTorrent DHT traffic (native/wire/dht): KRPC datagrams (bencode) checked before the
// bittorrent-dht package sees them, and BEP 44 location items read from the DHT.
import { checkKrpc, decodeBencode } from '../../../native/wire/dht/krpc-check.js';
import { decodeLocationItem, encodeLocationItem } from '../../../native/wire/dht/location-item.js';
import { sameAfterRoundTrip } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  checkKrpc(data);
  decodeBencode(data);
  const item = decodeLocationItem(data);
  if (typeof item !== 'string') {
    const { value, dropped } = encodeLocationItem(item);
    if (dropped === 0) sameAfterRoundTrip('location item', item, decodeLocationItem(value));
  }
}
