// Presence documents: PIDF (RFC 3863) with the RPID activities of RFC 4480 for "away" and
// "busy". We write one tuple (basic open/closed, a timestamp) and one person element; we read
// any PIDF well enough to tell open from closed, the activities and the first note.

export const PIDF_CONTENT_TYPE = 'application/pidf+xml';

export type DocumentStatus = 'available' | 'away' | 'busy' | 'offline';

export interface PresenceDocument {
  /** The presentity's AOR (RFC 3863 4.1.1 `entity`). */
  entity: string;
  status: DocumentStatus;
  note?: string;
  /** When the presentity wrote it (RFC 3863 4.1.7 timestamp), ms since the epoch: newer replaces older. */
  at?: number;
}

/** RFC 3863 4.1.6 notes are free text; this keeps documents small enough for UDP. */
export const MAX_NOTE_LENGTH = 200;

export function buildPidf(doc: PresenceDocument & { at: number }): string {
  const basic = doc.status === 'offline' ? 'closed' : 'open';
  // RFC 4480 3.2: activities of the person; "available" has none.
  const activity = doc.status === 'away' || doc.status === 'busy' ? `<rpid:${doc.status}/>` : '<rpid:unknown/>';
  const note = doc.note ? `\n  <note>${escapeXml(doc.note.slice(0, MAX_NOTE_LENGTH))}</note>` : '';
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="${escapeXml(doc.entity)}">\n` +
    `  <tuple id="pd">\n    <status><basic>${basic}</basic></status>\n    <timestamp>${new Date(doc.at).toISOString()}</timestamp>\n  </tuple>` +
    note +
    `\n  <dm:person id="p">\n    <rpid:activities>${activity}</rpid:activities>\n  </dm:person>\n</presence>\n`
  );
}

/** The document's meaning, or undefined when the text is not PIDF. */
export function parsePidf(xml: string): PresenceDocument | undefined {
  if (xml.length > 64 * 1024) return undefined;
  const root = /<(?:[\w-]+:)?presence\b([^>]*)>([\s\S]*)<\/(?:[\w-]+:)?presence\s*>/.exec(xml);
  if (!root) return undefined;
  const entity = attribute(root[1], 'entity');
  if (!entity) return undefined;
  const body = root[2];
  const basic = elementText(body, 'basic')?.trim().toLowerCase();
  if (basic !== 'open' && basic !== 'closed') return undefined;
  const activities = elementText(body, 'activities') ?? '';
  const busy = /<(?:[\w-]+:)?(busy|on-the-phone|meeting)\b/.test(activities);
  const away = /<(?:[\w-]+:)?(away|sleeping|vacation)\b/.test(activities);
  const status: DocumentStatus = basic === 'closed' ? 'offline' : busy ? 'busy' : away ? 'away' : 'available';
  // Trimmed after unescaping and cutting (found by fuzzing): "&#32;" or a cut that ends in a
  // space gave a note that read differently once we wrote it out again.
  const note = unescapeXml((elementText(body, 'note') ?? '').trim()).slice(0, MAX_NOTE_LENGTH).trim();
  const stamp = elementText(body, 'timestamp');
  const at = stamp ? Date.parse(stamp.trim()) : NaN;
  return {
    entity: unescapeXml(entity),
    status,
    ...(note ? { note } : {}),
    ...(Number.isFinite(at) ? { at } : {}),
  };
}

function attribute(attrs: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The text of the first element with this local name, whatever its namespace prefix. */
function elementText(xml: string, local: string): string | undefined {
  const m = new RegExp(`<((?:[\\w-]+:)?${local})\\b[^>]*?(?:/>|>([\\s\\S]*?)</\\1\\s*>)`).exec(xml);
  return m ? (m[2] ?? '') : undefined;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-f]+);/gi, (_, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (e[0] !== '#') return named[e.toLowerCase()];
    const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}
