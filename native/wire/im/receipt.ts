// Delivery and read receipts: a SIP MESSAGE whose body lists the Call-IDs of the messages it
// is about. A simpler scheme than IMDN (RFC 5438), which needs CPIM wrapping of every message;
// see docs/protocol.md. A receipt is never stored as a message and never itself acknowledged.
export const RECEIPT_CONTENT_TYPE = 'application/vnd.peerdial.receipt+json';
/** Call-IDs in one receipt; more go in several. */
export const MAX_RECEIPT_IDS = 100;

export type ReceiptKind = 'delivered' | 'read';
export interface Receipt {
  kind: ReceiptKind;
  callIds: string[];
}

export function encodeReceipt(receipt: Receipt): string {
  return JSON.stringify({ [receipt.kind]: receipt.callIds });
}

/** The receipt, or undefined for a body that is not one. */
export function parseReceipt(body: string): Receipt | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const entries = Object.entries(parsed as Record<string, unknown>);
  if (entries.length !== 1) return undefined;
  const [kind, ids] = entries[0];
  if (kind !== 'delivered' && kind !== 'read') return undefined;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_RECEIPT_IDS) return undefined;
  if (!ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 256)) return undefined;
  return { kind, callIds: ids as string[] };
}
