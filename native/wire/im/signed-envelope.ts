// Sign-then-seal, the one construction under every end-to-end message format (offline messages,
// live messages): the sender signs the exact payload string with its Ed25519 identity key, and the
// payload and signature together are sealed to the recipient's X25519 key (wire/crypto/sealed-box.ts)
// with the sender's key in the sealing context.
//
//   sig    = Ed25519(sender, LABEL || "\n" || payload)
//   sealed = seal(JSON {payload, sig}, recipient's X25519 key, context = LABEL || sender's Ed25519 key)
//
// The signature inside the box tells the recipient who wrote the payload; the box hides it from
// everyone else, and opens only under the sender key the recipient expected.
import type { KeyObject } from 'node:crypto';
import { openSealed, sealToRecipient } from '../crypto/sealed-box.js';
import { signEd25519, verifyEd25519 } from '../crypto/signature.js';

export type OpenedEnvelope = { ok: true; payload: string } | { ok: false; reason: 'undecryptable' | 'malformed' | 'bad-signature' };

export interface EnvelopeSender {
  /** Raw Ed25519 public key, base64url. */
  publicKey: string;
  privateKey: Buffer | KeyObject;
}

export function signThenSeal(label: string, payload: string, sender: EnvelopeSender, recipientX25519: Buffer): Buffer {
  const sig = signEd25519(Buffer.from(`${label}\n${payload}`), sender.privateKey);
  return sealToRecipient(Buffer.from(JSON.stringify({ payload, sig })), recipientX25519, sealingContext(label, sender.publicKey));
}

/** The payload that `senderKey` (raw Ed25519, base64url) signed, once the box opened under it. */
export function openThenVerify(label: string, sealed: Buffer, recipientX25519Private: Buffer | KeyObject, senderKey: string): OpenedEnvelope {
  const opened = openSealed(sealed, recipientX25519Private, sealingContext(label, senderKey));
  if (!opened) return { ok: false, reason: 'undecryptable' };
  let envelope: { payload?: unknown; sig?: unknown };
  try {
    envelope = JSON.parse(opened.toString('utf8')) as typeof envelope;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof envelope?.payload !== 'string' || typeof envelope.sig !== 'string') return { ok: false, reason: 'malformed' };
  if (!verifyEd25519(Buffer.from(`${label}\n${envelope.payload}`), envelope.sig, senderKey)) return { ok: false, reason: 'bad-signature' };
  return { ok: true, payload: envelope.payload };
}

function sealingContext(label: string, senderKey: string): Buffer {
  return Buffer.concat([Buffer.from(label), Buffer.from(senderKey, 'base64url')]);
}

/** The payload's fields, when it is a version-1 JSON object whose `strings` are all strings. */
export function readPayload(payload: string, strings: readonly string[]): Record<string, unknown> | undefined {
  let fields: unknown;
  try {
    fields = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (!fields || typeof fields !== 'object') return undefined;
  const record = fields as Record<string, unknown>;
  if (record.v !== 1 || strings.some((key) => typeof record[key] !== 'string')) return undefined;
  return record;
}
