// A MESSAGE between two Peerdial users, sealed and signed end to end (wire/im/signed-envelope.ts,
// label "peerdial-message-v1"): the SIP body is the sealed box in base64url, of type
// application/vnd.peerdial.sealed; what is inside (a text, a receipt, an isComposing document)
// is the payload's `type` and `body`. docs/protocol.md, "Messages end to end".
//
//   payload = JSON {v:1, from, to, toKey, callId, at, type, body}   (the exact string is signed)
//
// `from`, `to` and `toKey` say who wrote it to whom; `callId` must be the MESSAGE's own Call-ID,
// so a captured box replayed in a new request is either a duplicate (same Call-ID) or refused.
import type { KeyObject } from 'node:crypto';
import { openThenVerify, readPayload, signThenSeal, type EnvelopeSender } from './signed-envelope.js';

export const SEALED_MESSAGE_CONTENT_TYPE = 'application/vnd.peerdial.sealed';
const LABEL = 'peerdial-message-v1';
/** A sealed body's largest size we open (base64url characters): 64 KiB of text and the wrapping. */
export const MAX_SEALED_BODY_CHARS = 96 * 1024;

export interface SealedMessage {
  /** The sender's AOR. */
  from: string;
  /** The recipient's AOR. */
  to: string;
  /** The recipient's Ed25519 key (raw, base64url), as the sender found it pinned or in the name claim. */
  toKey: string;
  callId: string;
  at: number;
  /** The inner content type: text/plain;charset=UTF-8, a receipt, an isComposing document. */
  type: string;
  body: string;
}

export type OpenedSealedMessage = { ok: true; message: SealedMessage } | { ok: false; reason: 'undecryptable' | 'malformed' | 'bad-signature' };

export function sealMessage(message: SealedMessage, sender: EnvelopeSender, recipientX25519: Buffer): string {
  const { from, to, toKey, callId, at, type, body } = message;
  return signThenSeal(LABEL, JSON.stringify({ v: 1, from, to, toKey, callId, at, type, body }), sender, recipientX25519).toString('base64url');
}

/** Opens a body that `senderKey` (raw Ed25519, base64url) is expected to have written. */
export function openSealedMessage(body: string, recipientX25519Private: Buffer | KeyObject, senderKey: string): OpenedSealedMessage {
  const text = body.trim();
  if (text.length > MAX_SEALED_BODY_CHARS || !/^[A-Za-z0-9_-]+$/.test(text)) return { ok: false, reason: 'malformed' };
  const opened = openThenVerify(LABEL, Buffer.from(text, 'base64url'), recipientX25519Private, senderKey);
  if (!opened.ok) return opened;
  const message = parsePayload(opened.payload);
  return message ? { ok: true, message } : { ok: false, reason: 'malformed' };
}

function parsePayload(payload: string): SealedMessage | undefined {
  const p = readPayload(payload, ['from', 'to', 'toKey', 'callId', 'type', 'body']);
  if (!p || !Number.isSafeInteger(p.at) || (p.callId as string).length > 256 || (p.type as string).length > 128) return undefined;
  return { from: p.from as string, to: p.to as string, toKey: p.toKey as string, callId: p.callId as string, at: p.at as number, type: p.type as string, body: p.body as string };
}
