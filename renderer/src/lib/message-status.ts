// A message's delivery state in plain words, as the conversation shows it under an outgoing message.
import type { MessageView } from './control-types.js';

export function messageStatusLabel(message: Pick<MessageView, 'status' | 'reason' | 'voice'>): string {
  switch (message.status) {
    case 'sending':
      return 'sending';
    case 'sent':
      return 'sent';
    case 'stored':
      // Kept in the overlay, encrypted to them, until their node comes back.
      return 'stored for delivery';
    case 'delivered':
      return 'delivered';
    case 'read':
      // A voice message's read receipt comes when it was played to the end.
      return message.voice ? 'heard' : 'read';
    case 'failed':
      return message.reason ? `failed: ${message.reason}` : 'failed';
    case 'received':
      return 'received';
  }
}
