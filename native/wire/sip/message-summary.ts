// RFC 3842 message waiting: the body of a NOTIFY for the `message-summary` event package
// (application/simple-message-summary, section 5). Only voice messages are counted here.
//
//   Messages-Waiting: yes
//   Message-Account: sip:alice@peerdial
//   Voice-Message: 2/8
export const MESSAGE_SUMMARY_EVENT = 'message-summary';
export const MESSAGE_SUMMARY_CONTENT_TYPE = 'application/simple-message-summary';

export interface MessageSummary {
  /** The account the counts are for (the user's AOR). */
  account: string;
  /** New (not yet heard) voice messages. */
  unheard: number;
  /** Old (heard) voice messages still kept. */
  heard: number;
}

export function encodeMessageSummary(s: MessageSummary): string {
  return `Messages-Waiting: ${s.unheard > 0 ? 'yes' : 'no'}\r\nMessage-Account: ${s.account}\r\nVoice-Message: ${s.unheard}/${s.heard}\r\n`;
}

/** Reads a summary's waiting flag and voice counts (section 5.2; an urgent "(n/m)" part is ignored). */
export function parseMessageSummary(body: string): { waiting: boolean; account?: string; voice?: { new: number; old: number } } | undefined {
  const fields = new Map<string, string>();
  for (const line of body.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const waiting = fields.get('messages-waiting')?.toLowerCase();
  if (waiting !== 'yes' && waiting !== 'no') return undefined;
  const voice = /^(\d+)\s*\/\s*(\d+)/.exec(fields.get('voice-message') ?? '');
  return {
    waiting: waiting === 'yes',
    ...(fields.get('message-account') ? { account: fields.get('message-account') } : {}),
    ...(voice ? { voice: { new: Number(voice[1]), old: Number(voice[2]) } } : {}),
  };
}
