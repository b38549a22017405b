// What a user sees of voice messages being left and played; the control API serves these as they are.

export interface VoicemailSettings {
  /** Callers may leave this user voice messages. */
  enabled: boolean;
  /** How long an incoming call rings before it goes to voicemail, seconds. */
  ringSeconds: number;
}

/** Settings → Voicemail as shown: the settings, the user's own greeting, and how many messages wait unheard. */
export interface VoicemailView extends VoicemailSettings {
  /** The user's recorded greeting; absent: callers hear the default (their name and the tone). */
  greeting?: { durationMs: number };
  unheard: number;
}

/** 'greeting': the callee's greeting and the tone are playing; the microphone is not heard yet. */
export type RecordingState = 'greeting' | 'recording' | 'sending' | 'sent' | 'failed' | 'cancelled';

/** What the UI shows while the user leaves a message, or records their own greeting. */
export interface RecordingView {
  id: string;
  /** 'message': for `to`; 'greeting': the user's own greeting (`to` is their own AOR). */
  kind: 'message' | 'greeting';
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
