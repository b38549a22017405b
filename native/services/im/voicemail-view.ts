// What a user sees of voice messages being left and played; the control API serves these as they are.

export interface VoicemailSettings {
  /** Callers may leave this user voice messages. */
  enabled: boolean;
  /** How long an incoming call rings before it goes to voicemail, seconds. */
  ringSeconds: number;
}

export type RecordingState = 'greeting' | 'recording' | 'sending' | 'sent' | 'failed' | 'cancelled';

/** What the UI shows while the user leaves a message. */
export interface RecordingView {
  id: string;
  to: string;
  state: RecordingState;
  /** Recorded so far, ms. */
  elapsedMs: number;
  maxMs: number;
  /** Why it failed, for state 'failed'. */
  reason?: string;
  /** The message in the conversation, once it is being sent. */
  messageId?: number;
}

export interface PlaybackView {
  messageId: number;
  positionMs: number;
  durationMs: number;
  playing: boolean;
}
