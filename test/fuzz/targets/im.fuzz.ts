// Instant-message bodies (native/wire/im): is-composing XML, receipts, sealed and offline
// messages, voice message manifests and packed voice frames.
import { generateKeyPairSync } from 'node:crypto';
import { parseIsComposing, serializeIsComposing } from '../../../native/wire/im/is-composing.js';
import { openOfflineMessage } from '../../../native/wire/im/offline-message.js';
import { encodeReceipt, parseReceipt } from '../../../native/wire/im/receipt.js';
import { openSealedMessage } from '../../../native/wire/im/sealed-message.js';
import { readPayload } from '../../../native/wire/im/signed-envelope.js';
import { packVoice, parseVoiceManifest, unpackVoice } from '../../../native/wire/im/voice-message.js';
import { jsonOf, sameAfterRoundTrip } from '../support/contract.js';

const recipient = generateKeyPairSync('x25519').privateKey;
const senderKey = Buffer.alloc(32, 3).toString('base64url');

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  const composing = parseIsComposing(text);
  if (composing) sameAfterRoundTrip('is-composing', composing, parseIsComposing(serializeIsComposing(composing)));
  const receipt = parseReceipt(text);
  if (receipt) sameAfterRoundTrip('receipt', receipt, parseReceipt(encodeReceipt(receipt)));
  openSealedMessage(text, recipient, senderKey);
  openOfflineMessage(text, recipient, senderKey);
  readPayload(text, ['from', 'to']);
  parseVoiceManifest(jsonOf(text));
  const frames = unpackVoice(data);
  if (frames) sameAfterRoundTrip('voice frames', frames, unpackVoice(packVoice(frames)));
}
