// Reading the Contact header of SUBSCRIBE, NOTIFY and their responses: the dialog's remote target (RFC 3261 12.1).

/** The URI of a parsed Contact header's first entry (the `sip` package gives objects or, for odd input, text). */
export function firstContactUri(contact: unknown): string | undefined {
  const first: unknown = Array.isArray(contact) ? contact[0] : contact;
  if (typeof first === 'string') return /<([^>]+)>/.exec(first)?.[1] ?? (first.trim() || undefined);
  if (first && typeof first === 'object' && typeof (first as { uri?: unknown }).uri === 'string') return (first as { uri: string }).uri;
  return undefined;
}
