// RFC 3994 isComposing documents (application/im-iscomposing+xml): whether the other party is
// composing a message. Only the schema's own elements (RFC 3994 4) are read; anything else in
// the document is ignored, and a document that is not one is undefined, never a throw.
export const IS_COMPOSING_CONTENT_TYPE = 'application/im-iscomposing+xml';
export const IS_COMPOSING_NAMESPACE = 'urn:ietf:params:xml:ns:im-iscomposing';
/** RFC 3994 3.2: a composer refreshes an active state; 90 s is the interval it suggests. */
export const DEFAULT_REFRESH_S = 90;
/** RFC 3994 3.3: with no refresh given, a receiver times an active state out after 120 s. */
export const DEFAULT_ACTIVE_TIMEOUT_S = 120;
/** RFC 3994 3.2: 15 s without typing and the composer goes idle. */
export const IDLE_AFTER_MS = 15_000;

export interface IsComposing {
  state: 'active' | 'idle';
  /** Seconds until the sender refreshes an active state (RFC 3994 3.2). */
  refresh?: number;
  /** The type of the message being composed, e.g. text/plain. */
  contentType?: string;
  /** When the sender was last active (ms since the epoch). */
  lastActive?: number;
}

export function serializeIsComposing(doc: IsComposing): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<isComposing xmlns="${IS_COMPOSING_NAMESPACE}">`,
    `  <state>${doc.state}</state>`,
  ];
  if (doc.lastActive !== undefined) lines.push(`  <lastactive>${new Date(doc.lastActive).toISOString()}</lastactive>`);
  if (doc.contentType) lines.push(`  <contenttype>${escapeXml(doc.contentType)}</contenttype>`);
  if (doc.refresh !== undefined) lines.push(`  <refresh>${Math.round(doc.refresh)}</refresh>`);
  lines.push('</isComposing>', '');
  return lines.join('\r\n');
}

export function parseIsComposing(xml: string): IsComposing | undefined {
  if (xml.length > 8192) return undefined;
  const text = xml.replace(/<\?[\s\S]*?\?>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  const root = /^\s*<(?:([A-Za-z_][\w.-]*):)?isComposing(\s[^>]*)?>([\s\S]*)<\/(?:\1:)?isComposing>\s*$/.exec(text);
  if (!root) return undefined;
  const prefix = root[1];
  const attributes = root[2] ?? '';
  const declared = new RegExp(`\\bxmlns${prefix ? ':' + prefix : ''}\\s*=\\s*["']([^"']*)["']`).exec(attributes);
  if (declared?.[1] !== IS_COMPOSING_NAMESPACE) return undefined;
  const child = (name: string): string | undefined => {
    const tag = prefix ? `${prefix}:${name}` : name;
    const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(root[3]);
    return m ? unescapeXml(m[1].trim()) : undefined;
  };
  const state = child('state');
  // RFC 3994 4: the state is a string; "active" and "idle" are the two it defines.
  if (state !== 'active' && state !== 'idle') return undefined;
  const doc: IsComposing = { state };
  const refresh = child('refresh');
  if (refresh !== undefined) {
    if (!/^\d{1,6}$/.test(refresh) || Number(refresh) === 0) return undefined;
    doc.refresh = Number(refresh);
  }
  const contentType = child('contenttype');
  if (contentType) doc.contentType = contentType;
  const lastActive = child('lastactive');
  if (lastActive !== undefined) {
    const at = Date.parse(lastActive);
    if (Number.isNaN(at)) return undefined;
    doc.lastActive = at;
  }
  return doc;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
