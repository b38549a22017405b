import type { Migration } from './index.js';

/**
 * Voice messages (issue 15): a message row with `voice_ms` set is a voice message of that length;
 * its audio (Opus packets, wire/im/voice-message.ts packVoice) is in `voice_audio`, apart so a
 * conversation's history never reads it. `listened_at`: when the recipient played it to the end
 * (an outgoing one learns it from the read receipt, as its status 'read').
 */
export const m014VoiceMessages: Migration = {
  version: 14,
  name: 'voice-messages',
  up: `
    ALTER TABLE messages ADD COLUMN voice_ms INTEGER;
    ALTER TABLE messages ADD COLUMN listened_at INTEGER;
    CREATE TABLE voice_audio (
      message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
      codec TEXT NOT NULL,
      audio BLOB NOT NULL
    );
  `,
};
