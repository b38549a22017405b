// Instant messages: SIP MESSAGE (RFC 3428) with text/plain bodies, stored in sqlite before
// they are acknowledged, so nothing a user typed or was sent is lost on a crash.
import type { MessageRepository, StoredMessage } from '../storage/repositories/message-repository.js';
import { decodeBody, generateCallId, reasonPhrase } from '../wire/sip/message.js';
import { conversationKey, parseSipUri } from '../wire/sip/uri.js';
import { UserError } from './errors.js';
import type { IdentityService } from './identity-service.js';
import type { IncomingRequest, RequestOutcome, SipStack } from './sip-stack.js';

/** RFC 3428 5: a MESSAGE body is limited; past 1300 bytes the stack moves to TCP (RFC 3261 18.1.1). */
export const MAX_MESSAGE_TEXT_BYTES = 16 * 1024;

/** What IM needs of the overlay: this user's AOR, and the contacts of another's. */
export interface AorResolver {
  ownAor(): string | undefined;
  isOverlayUri(uri: { host: string }): boolean;
  lookupAor(aor: string): Promise<{ contacts: string[] }>;
}

export interface ImServiceDeps {
  stack: SipStack;
  overlay?: AorResolver;
  messages: MessageRepository;
  identity: IdentityService;
  onMessage(message: StoredMessage, change: 'added' | 'updated'): void;
  now?: () => number;
}

export class ImService {
  private readonly now: () => number;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly deps: ImServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    // A message still "sending" belongs to a run that ended before its outcome was known.
    await this.deps.messages.markUnfinishedFailed('Peerdial closed before delivery was confirmed', this.now());
    this.deps.stack.handle('MESSAGE', (incoming) => this.receive(incoming));
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** What this user's messages say they are from: the overlay AOR when there is one. */
  private fromUri(): string | undefined {
    return this.deps.overlay?.ownAor() ?? this.ownUri();
  }

  /** This node's own URI: `sip:USER@HOST:PORT`. */
  ownUri(): string | undefined {
    const identity = this.deps.identity.current;
    if (!identity) return undefined;
    return `sip:${identity.userName}@${this.deps.stack.host}:${this.deps.stack.port}`;
  }

  async send(to: string, text: string): Promise<StoredMessage> {
    const identity = this.deps.identity.current;
    if (!identity || !this.ownUri()) throw new UserError('NO_IDENTITY', 'Create your identity before sending messages.');
    const peer = conversationKey(to);
    const target = parseSipUri(to);
    if (!peer || !target?.user) throw new UserError('INVALID_URI', `"${to}" is not a SIP address like sip:bob@192.0.2.10:5060.`);
    const viaOverlay = this.deps.overlay?.isOverlayUri(target) ?? false;
    // To an AOR we write our AOR (the reply is looked up in the same overlay); to a direct
    // address, our direct contact, since that peer may not share our overlay.
    const from = (viaOverlay ? this.fromUri() : this.ownUri())!;
    if (!text.trim()) throw new UserError('INVALID_ARGUMENT', 'The message is empty.');
    if (Buffer.byteLength(text) > MAX_MESSAGE_TEXT_BYTES) throw new UserError('INVALID_ARGUMENT', `The message is longer than ${MAX_MESSAGE_TEXT_BYTES} bytes.`);

    const callId = generateCallId(this.deps.stack.host);
    const stored = await this.deps.messages.add({ peer, direction: 'out', text, status: 'sending', sipCallId: callId, sipCseq: 1, at: this.now() });
    if (!stored) throw new Error('message could not be stored');
    this.deps.onMessage(stored, 'added');

    const message = { to: to.trim().replace(/^<(.*)>$/, '$1'), from, fromName: identity.displayName, body: text, contentType: 'text/plain;charset=UTF-8', callId };
    const delivery = (viaOverlay ? this.sendToAor(message) : this.deps.stack.request({ method: 'MESSAGE', ...message }))
      .then((outcome) => this.settle(stored.id, outcome))
      .catch((error) => this.settle(stored.id, { kind: 'transport-error', error: error as Error }));
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
    return stored;
  }

  /**
   * A MESSAGE to an AOR: look up the user's devices in the overlay and try each contact, newest
   * binding first, until one answers 2xx. The Request-URI is the contact; To stays the AOR.
   */
  private async sendToAor(message: { to: string; from: string; fromName: string; body: string; contentType: string; callId: string }): Promise<RequestOutcome> {
    let contacts: string[];
    try {
      contacts = (await this.deps.overlay!.lookupAor(message.to)).contacts;
    } catch (error) {
      return { kind: 'unresolvable', error: error as Error };
    }
    if (!contacts.length) return { kind: 'unresolvable', error: new Error(`${message.to} has no device online`) };
    let last: RequestOutcome | undefined;
    for (const contact of contacts) {
      last = await this.deps.stack.request({ method: 'MESSAGE', ...message, requestUri: contact, timeoutMs: 8_000 });
      if (last.kind === 'final' && last.response.status < 300) return last;
    }
    return last!;
  }

  conversations(): Promise<Array<{ peer: string; lastMessage: StoredMessage; messageCount: number }>> {
    return this.deps.messages.conversations();
  }

  history(peer: string, limit: number, beforeId?: number): Promise<StoredMessage[]> {
    const key = conversationKey(peer);
    if (!key) throw new UserError('INVALID_URI', `"${peer}" is not a SIP address.`);
    return this.deps.messages.history(key, limit, beforeId);
  }

  private async settle(id: number, outcome: RequestOutcome): Promise<void> {
    const [status, reason] = describeOutcome(outcome);
    const updated = await this.deps.messages.setStatus(id, status, reason, this.now());
    if (updated) this.deps.onMessage(updated, 'updated');
  }

  private async receive({ request, respond }: IncomingRequest): Promise<void> {
    const identity = this.deps.identity.current;
    if (!identity) {
      respond(480, { reason: 'No user here yet' });
      return;
    }
    const target = parseSipUri(request.uri);
    if (target?.user && target.user.toLowerCase() !== identity.userName) {
      respond(404);
      return;
    }
    // RFC 3428 7: a body type the UAS does not understand gets 415 with Accept.
    const type = String(request.headers['content-type'] ?? 'text/plain').split(';')[0].trim().toLowerCase();
    if (type !== 'text/plain') {
      respond(415, { headers: { accept: 'text/plain' } });
      return;
    }
    const peer = conversationKey(request.headers.from.uri);
    if (!peer) {
      respond(400, { reason: 'Bad Request (From is not a SIP URI)' });
      return;
    }
    const stored = await this.deps.messages.add({
      peer,
      direction: 'in',
      text: decodeBody(request.content),
      status: 'received',
      sipCallId: request.headers['call-id'],
      sipCseq: request.headers.cseq.seq,
      at: this.now(),
    });
    // Committed to disk before the 200: a crash after this loses nothing.
    respond(200);
    if (stored) this.deps.onMessage(stored, 'added');
  }
}

function describeOutcome(outcome: RequestOutcome): ['delivered' | 'sent' | 'failed', string | undefined] {
  switch (outcome.kind) {
    case 'final': {
      const { status, reason } = outcome.response;
      // RFC 3428 7: 202 means accepted for delivery (a store-and-forward server), not delivered yet.
      if (status === 202) return ['sent', undefined];
      if (status >= 200 && status < 300) return ['delivered', undefined];
      return ['failed', `${status} ${reason || reasonPhrase(status)}`];
    }
    case 'timeout':
      return ['failed', 'No answer from the recipient (timed out)'];
    case 'transport-error':
      return ['failed', `Could not reach the recipient: ${outcome.error.message}`];
    case 'unresolvable':
      return ['failed', `Could not find the recipient: ${outcome.error.message}`];
  }
}
