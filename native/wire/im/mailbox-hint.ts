// "Your mailbox has something new": a sealed MESSAGE a sender's node sends to the recipient's
// devices that are online right after it stored something for them in the overlay (a voice
// message), so they fetch it now instead of at their next poll. It carries nothing itself;
// only a sealed one is taken (a Peerdial user's signed word), and it never becomes a message.
export const MAILBOX_HINT_CONTENT_TYPE = 'application/vnd.peerdial.mailbox-hint+json';
export const MAILBOX_HINT_BODY = '{}';
