// A message kept in the overlay for a recipient who is offline: signed by the sender, then
// sealed to the recipient (wire/im/signed-envelope.ts, label "peerdial-offline-message-v1").
//
//   payload  = JSON {v:1, from, to, toKey, callId, seq, at, text, voice?}   (the exact string is signed, not a re-encoding)
//
// `voice`, in a voice message, opens the encrypted audio chunks stored beside it (voice-message.ts).
//
// Sign-then-seal: the signature, inside the box, tells the recipient who wrote the words and to
// whom (`to`, `toKey`: a recipient cannot pass a message on as if it had been sent to someone
// else). The sender's key in the sealing context means the box only opens under the record
// owner the storing nodes checked; `seq` orders one sender's messages.
import { openThenVerify, readPayload, signThenSeal, type EnvelopeSender } from './signed-envelope.js';
import type { KeyObject } from 'node:crypto';
import { parseVoiceManifest, type VoiceManifest } from './voice-message.js';

export interface OfflineMessage {
  /** The sender's AOR. */
  from: string;
  /** The recipient's AOR. */
  to: string;
  /** The recipient's Ed25519 key (raw, base64url), as the sender found it in the name claim. */
  toKey: string;
  callId: string;
  /** Grows with every message from this sender: the recipient delivers in this order. */
  seq: number;
  /** When the sender sent it (ms since the epoch). */
  at: number;
  text: string;
  /** A voice message: its audio's key, chunk digests, codec and length. */
  voice?: VoiceManifest;
}

const LABEL = 'peerdial-offline-message-v1';
/** The largest text an offline message carries (bytes of UTF-8). */
export const MAX_OFFLINE_TEXT_BYTES = 16 * 1024;

export type OpenedOfflineMessage = { ok: true; message: OfflineMessage } | { ok: false; reason: 'undecryptable' | 'malformed' | 'bad-signature' };

/** Sign with the sender's Ed25519 key and seal to the recipient's X25519 key; base64url. */
export function sealOfflineMessage(message: OfflineMessage, sender: EnvelopeSender, recipientX25519: Buffer): string {
  const { from, to, toKey, callId, seq, at, text, voice } = message;
  const payload = JSON.stringify({ v: 1, from, to, toKey, callId, seq, at, text, ...(voice ? { voice } : {}) });
  return signThenSeal(LABEL, payload, sender, recipientX25519).toString('base64url');
}

/** Opens a sealed message that `senderKey` (raw Ed25519, base64url) claims to have written. */
export function openOfflineMessage(sealed: string, recipientX25519Private: Buffer | KeyObject, senderKey: string): OpenedOfflineMessage {
  const opened = openThenVerify(LABEL, Buffer.from(sealed, 'base64url'), recipientX25519Private, senderKey);
  if (!opened.ok) return opened;
  const message = parsePayload(opened.payload);
  return message ? { ok: true, message } : { ok: false, reason: 'malformed' };
}

function parsePayload(payload: string): OfflineMessage | undefined {
  const p = readPayload(payload, ['from', 'to', 'toKey', 'callId', 'text']);
  if (!p) return undefined;
  if (!Number.isSafeInteger(p.seq) || !Number.isSafeInteger(p.at)) return undefined;
  if (Buffer.byteLength(p.text as string) > MAX_OFFLINE_TEXT_BYTES || (p.callId as string).length > 256) return undefined;
  const voice = p.voice === undefined ? undefined : parseVoiceManifest(p.voice);
  if (p.voice !== undefined && !voice) return undefined;
  return { from: p.from as string, to: p.to as string, toKey: p.toKey as string, callId: p.callId as string, seq: p.seq as number, at: p.at as number, text: p.text as string, ...(voice ? { voice } : {}) };
}
