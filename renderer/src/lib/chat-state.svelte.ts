// Conversations and the open conversation's messages, kept in step with message events.
import { addressFromInput, conversationKeyOf } from './sip-address.js';
import type { ConsistentLoad, ControlClient, ControlEvent, ConversationView, MessageView } from './control-types.js';

export interface OpenConversation {
  /** What the user typed or picked: sent as the MESSAGE target, parameters and all. */
  address: string;
  /** The conversation key messages are filed under. */
  key: string;
}

export class ChatState {
  conversations = $state<ConversationView[]>([]);
  open = $state<OpenConversation | undefined>();
  messages = $state<MessageView[]>([]);
  historyError = $state<string | undefined>();

  constructor(
    private readonly client: ControlClient,
    private readonly consistent: ConsistentLoad,
    /** The overlay this node is in, so a bare user name can stand for its AOR. */
    private readonly overlayName: () => string | undefined = () => undefined,
  ) {}

  async load(): Promise<void> {
    await Promise.all([
      this.consistent(
        () => this.client.invoke('im.conversations', {}),
        (list) => (this.conversations = list),
      ),
      this.open ? this.loadHistory(this.open) : undefined,
    ]);
  }

  /**
   * Opens a conversation by a typed address (`bob`, `sip:bob@OVERLAY` or `sip:bob@HOST:PORT`);
   * returns a sentence when it is none of these.
   */
  async openAddress(typed: string): Promise<string | undefined> {
    const overlay = this.overlayName();
    const address = addressFromInput(typed, overlay);
    const key = conversationKeyOf(address);
    if (!key) {
      const byName = overlay ? `a name like bob, sip:bob@${overlay} or ` : '';
      return `"${typed.trim()}" is not ${byName}a SIP address like sip:bob@127.0.0.1:5071.`;
    }
    const known = this.conversations.find((c) => c.peer === key);
    await this.show({ address: known ? known.peer : address, key });
    return undefined;
  }

  /** Opens a conversation by its key or a buddy's AOR (filed under the same key). */
  async openPeer(peer: string): Promise<void> {
    await this.show({ address: peer, key: conversationKeyOf(peer) ?? peer });
  }

  /** Sends to the open conversation. Throws (with the engine's sentence) when the engine refuses it. */
  async send(text: string): Promise<void> {
    const open = this.open;
    if (!open) throw new Error('No conversation is open.');
    const message = await this.client.invoke('im.send', { to: open.address, text });
    if (message.peer !== open.key && this.open === open) {
      // The engine filed it under another key than ours: follow the engine.
      this.open = { address: open.address, key: message.peer };
      await this.loadHistory(this.open);
    }
    this.applyMessage(message);
  }

  apply(event: ControlEvent): void {
    // A stranger's message waits in Requests (strangers-state), not among the conversations.
    if (event.type === 'message.added' && event.data.request) return;
    if (event.type === 'message.added' || event.type === 'message.updated') this.applyMessage(event.data);
    // An accepted request becomes a conversation: the engine's list has it.
    if (event.type === 'requests.changed') void this.reloadConversations();
  }

  private async reloadConversations(): Promise<void> {
    await this.consistent(
      () => this.client.invoke('im.conversations', {}),
      (list) => (this.conversations = list),
    ).catch(() => undefined);
  }

  /** Pure and idempotent: ids grow, so a message at or below a conversation's last id is already counted. */
  private applyMessage(message: MessageView): void {
    const i = this.conversations.findIndex((c) => c.peer === message.peer);
    if (i < 0) {
      this.conversations.unshift({ peer: message.peer, lastMessage: message, messageCount: 1 });
    } else {
      const conversation = this.conversations[i];
      if (message.id > conversation.lastMessage.id) {
        conversation.lastMessage = message;
        conversation.messageCount += 1;
        this.conversations.sort((a, b) => b.lastMessage.id - a.lastMessage.id);
      } else if (message.id === conversation.lastMessage.id) {
        conversation.lastMessage = message;
      }
    }

    if (this.open?.key !== message.peer) return;
    const j = this.messages.findIndex((m) => m.id === message.id);
    if (j >= 0) {
      this.messages[j] = message;
      return;
    }
    const after = this.messages.findIndex((m) => m.id > message.id);
    if (after < 0) this.messages.push(message);
    else this.messages.splice(after, 0, message);
  }

  private async show(open: OpenConversation): Promise<void> {
    if (this.open?.key !== open.key) this.messages = [];
    this.open = open;
    await this.loadHistory(open);
  }

  private async loadHistory(open: OpenConversation): Promise<void> {
    this.historyError = undefined;
    try {
      await this.consistent(
        () => this.client.invoke('im.history', { peer: open.key }),
        (history) => {
          if (this.open?.key === open.key) this.messages = history;
        },
      );
    } catch (error) {
      if (this.open?.key === open.key) this.historyError = (error as Error).message;
    }
  }
}
