// Voice messages: a caller whose call was not answered leaves one (up to 2 minutes of Opus,
// from the UI's microphone or the headless node's --play file), it is sealed to the callee and
// kept in the overlay like an offline text (mailbox-service.ts, store with `voice`); the callee's
// node takes it from its mailbox, keeps it in sqlite, plays it into the speaker on request and,
// once played to the end, marks it listened and tells the caller with a read receipt.
// Settings (voicemail on or off, ring time before voicemail) are the callee's and travel in its
// name claim, so a caller knows them even while the callee is offline.
import { UserError } from '../errors.js';
import type { Logger } from '../../log.js';
import { frameSamples, type AudioSink, type AudioSource } from '../../proto/media/audio-io.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { MessageRepository, StoredMessage } from '../../storage/repositories/message-repository.js';
import { realTimers } from '../../transport/clock.js';
import { createOpusCodec, OPUS_SAMPLE_RATE } from '../../wire/audio/opus.js';
import type { VoiceCodec } from '../../wire/audio/voice-codec.js';
import { MAX_VOICE_MS, packVoice, unpackVoice, VOICE_CODEC, VOICE_FRAME_MS } from '../../wire/im/voice-message.js';
import { generateCallId } from '../../wire/sip/message.js';
import { addressInOverlay, conversationKey, parseSipUri } from '../../wire/sip/uri.js';
import type { MailboxService } from './mailbox-service.js';
import type { PlaybackView, RecordingView, VoicemailSettings, VoicemailView } from './voicemail-view.js';

/** Voice messages are 24 kbit/s wideband Opus: clear speech, 180 KiB a minute. */
export const VOICEMAIL_BITRATE = 24_000;
/** A greeting is at most 8 s at 12 kbit/s: one overlay record (MAILBOX_LIMITS.maxRecordBytes) holds it. */
export const MAX_GREETING_MS = 8_000;
const GREETING_BITRATE = 12_000;
/** A published greeting is stored again this often (it lives 6 days in the overlay). */
const GREETING_REPUBLISH_MS = 24 * 3600_000;
export const DEFAULT_VOICEMAIL_RING_S = 25;
export const MIN_VOICEMAIL_RING_S = 5;
export const MAX_VOICEMAIL_RING_S = 120;
/** The tone after the greeting: 1 kHz for 400 ms, as answering machines do. */
const BEEP_HZ = 1000;
const BEEP_MS = 400;
/** A message shorter than this is not worth keeping (a caller who changed their mind). */
const MIN_VOICE_MS = 500;
const SETTINGS_KEY = 'voicemail';
const GREETING_KEY = 'voicemail.greeting';

interface SavedGreeting {
  /** Packed Opus, base64url. */
  audio: string;
  durationMs: number;
}

export interface VoicemailDeps {
  mailbox: Pick<MailboxService, 'store' | 'publishGreeting' | 'fetchGreeting'>;
  messages: MessageRepository;
  overlay: {
    readonly overlay: string;
    ownAor(): string | undefined;
    lookupAor(aor: string): Promise<{ owner?: string; x25519?: string; voicemail?: boolean }>;
  };
  /** The user's microphone (the UI's frames) and speaker. */
  audio: { microphone: AudioSource; speakerSink(recorder?: AudioSink): AudioSink };
  /** The headless node's --play file: what it says when it leaves a message. */
  playSource?: () => AudioSource;
  /** The headless node's --record file: also hears messages played (settled, a whole WAV, when one ends). */
  recorder?: AudioSink & { settle?(): Promise<void> };
  settings: { get<T>(key: string): Promise<T | undefined>; set(key: string, value: unknown): Promise<void> };
  /** The name claim carries the settings: store it again when they change. */
  publishSettings?(settings: VoicemailSettings): Promise<void>;
  host: string;
  log: Logger;
  timers?: TimerHost;
  now?: () => number;
  onMessage(message: StoredMessage, change: 'added' | 'updated'): void;
  onRecording(view: RecordingView): void;
  onPlayback(view: PlaybackView): void;
  /** A message was heard: tell its sender (a read receipt). */
  sendReceipt(peer: string, callIds: string[]): Promise<void>;
  /** The message is in their mailbox: their devices online may fetch it now. */
  sendMailboxHint?(peer: string): Promise<void>;
  /** Unheard and heard voice messages changed (RFC 3842 message-waiting for the user's phones). */
  onCountsChanged?(counts: { unheard: number; heard: number }): void;
}

interface Recording {
  view: RecordingView;
  /** What plays before the microphone is heard: the callee's greeting (if any), then the tone. */
  prelude: Int16Array[];
  source: AudioSource;
  codec: VoiceCodec;
  packets: Buffer[];
  startedAt: number;
  frames: number;
  timer?: TimerHandle;
}

interface Playback {
  view: PlaybackView;
  timer?: TimerHandle;
}

export class VoicemailService {
  private readonly timers: TimerHost;
  private readonly now: () => number;
  private current: VoicemailSettings = { enabled: true, ringSeconds: DEFAULT_VOICEMAIL_RING_S };
  private greeting?: SavedGreeting;
  private republishTimer?: TimerHandle;
  private recording?: Recording;
  private playback?: Playback;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: VoicemailDeps) {
    this.timers = deps.timers ?? realTimers;
    this.now = deps.now ?? Date.now;
  }

  /** Reads the settings (before the overlay starts: the name claim carries them). */
  async load(): Promise<void> {
    const saved = await this.deps.settings.get<Partial<VoicemailSettings>>(SETTINGS_KEY);
    this.current = normalize({ ...this.current, ...saved });
    this.greeting = await this.deps.settings.get<SavedGreeting>(GREETING_KEY);
  }

  /** Once the overlay runs: the phones learn the counts, and a recorded greeting is published (again). */
  async start(): Promise<void> {
    await this.countsChanged();
    this.scheduleRepublish(0);
  }

  async stop(): Promise<void> {
    if (this.republishTimer) this.timers.clear(this.republishTimer);
    this.republishTimer = undefined;
    // Closing Peerdial while leaving a message is hanging up: what was said is sent, not lost
    // (the overlay stops after this service).
    if (this.recording?.view.state === 'recording') await this.finish(this.recording.view.id).catch(() => undefined);
    else if (this.recording?.view.state === 'greeting') this.cancel(this.recording.view.id);
    this.stopPlayback();
    await Promise.allSettled([...this.pending]);
  }

  get settings(): VoicemailSettings {
    return { ...this.current };
  }

  async view(): Promise<VoicemailView> {
    return { ...this.current, ...(this.greeting ? { greeting: { durationMs: this.greeting.durationMs } } : {}), unheard: (await this.counts()).unheard };
  }

  async setSettings(change: Partial<VoicemailSettings>): Promise<VoicemailSettings> {
    if (change.ringSeconds !== undefined && (!Number.isInteger(change.ringSeconds) || change.ringSeconds < MIN_VOICEMAIL_RING_S || change.ringSeconds > MAX_VOICEMAIL_RING_S)) {
      throw new UserError('INVALID_ARGUMENT', `The ring time before voicemail is a whole number of seconds from ${MIN_VOICEMAIL_RING_S} to ${MAX_VOICEMAIL_RING_S}.`);
    }
    this.current = normalize({ ...this.current, ...change });
    await this.deps.settings.set(SETTINGS_KEY, this.current);
    await this.deps.publishSettings?.(this.current).catch((error: unknown) => this.deps.log.warn('could not publish the voicemail settings', { error: String(error) }));
    return this.settings;
  }

  // ---- leaving a message ----

  /** Starts a message to `to` (a Peerdial user in our overlay): the greeting's tone, then the microphone. */
  async record(to: string): Promise<RecordingView> {
    const peer = conversationKey(addressInOverlay(to.trim(), this.deps.overlay.overlay));
    const uri = peer ? parseSipUri(peer) : undefined;
    if (!peer || !uri?.user || uri.host.toLowerCase() !== this.deps.overlay.overlay.toLowerCase()) {
      throw new UserError('INVALID_ARGUMENT', 'Voice messages go to Peerdial users in your overlay.');
    }
    if (this.recording && (this.recording.view.state === 'greeting' || this.recording.view.state === 'recording')) {
      throw new UserError('INVALID_STATE', 'A voice message is being recorded already.');
    }
    const found = await this.deps.overlay.lookupAor(peer).catch(() => ({}) as { owner?: string; x25519?: string; voicemail?: boolean });
    if (!found.owner || !found.x25519) throw new UserError('UNAVAILABLE', `${peer} cannot receive voice messages (their Peerdial is too old or their name was not found).`);
    if (found.voicemail === false) throw new UserError('UNAVAILABLE', `${peer} does not take voice messages.`);
    const greeting = await this.deps.mailbox.fetchGreeting(uri.user.toLowerCase(), found.owner);
    return this.begin({ kind: 'message', to: peer, maxMs: MAX_VOICE_MS, bitrate: VOICEMAIL_BITRATE, greeting });
  }

  /** Starts recording the user's own greeting: the tone, then up to 8 s of the microphone. */
  async recordGreeting(): Promise<RecordingView> {
    const own = this.deps.overlay.ownAor();
    if (!own) throw new UserError('NO_IDENTITY', 'Create your identity before recording a greeting.');
    if (this.recording && (this.recording.view.state === 'greeting' || this.recording.view.state === 'recording')) {
      throw new UserError('INVALID_STATE', 'A voice message is being recorded already.');
    }
    return this.begin({ kind: 'greeting', to: own, maxMs: MAX_GREETING_MS, bitrate: GREETING_BITRATE });
  }

  private begin(what: { kind: RecordingView['kind']; to: string; maxMs: number; bitrate: number; greeting?: Buffer }): RecordingView {
    this.stopPlayback();
    const codec = createOpusCodec({ bitrate: what.bitrate, complexity: 5, packetLossPercent: 0 });
    codec.tune({ dtx: false });
    const recording: Recording = {
      view: { id: generateCallId(this.deps.host), kind: what.kind, to: what.to, state: 'greeting', elapsedMs: 0, maxMs: what.maxMs },
      prelude: [...(what.greeting ? decodeAll(what.greeting) : []), ...beep()],
      source: this.deps.playSource?.() ?? this.deps.audio.microphone,
      codec,
      packets: [],
      startedAt: 0,
      frames: 0,
    };
    this.recording = recording;
    this.deps.onRecording({ ...recording.view });
    this.preludeThenRecord(recording);
    return { ...recording.view };
  }

  /** Plays the user's own greeting into the speaker (to hear how callers hear it). */
  async playGreeting(): Promise<void> {
    if (!this.greeting) throw new UserError('NOT_FOUND', 'You have not recorded a greeting: callers hear the default one.');
    this.playInRealTime(decodeAll(Buffer.from(this.greeting.audio, 'base64url')), this.deps.audio.speakerSink(), { wanted: () => true, timer: () => undefined, done: () => undefined });
  }

  /** Back to the default greeting: the recorded one is forgotten here and emptied in the overlay. */
  async clearGreeting(): Promise<void> {
    this.greeting = undefined;
    await this.deps.settings.set(GREETING_KEY, null);
    const published = await this.deps.mailbox.publishGreeting(undefined);
    if (!published.ok) this.deps.log.warn('could not clear the greeting in the overlay', { reason: published.reason });
  }

  private scheduleRepublish(delay: number): void {
    if (this.republishTimer) this.timers.clear(this.republishTimer);
    this.republishTimer = this.timers.set(delay, () => {
      const greeting = this.greeting;
      const work = greeting ? this.deps.mailbox.publishGreeting(Buffer.from(greeting.audio, 'base64url')) : Promise.resolve({ ok: true as const });
      this.track(
        work.then((outcome) => {
          // Not in the overlay yet (still joining): try again soon.
          this.scheduleRepublish(outcome.ok ? GREETING_REPUBLISH_MS : 30_000);
        }),
      );
    });
  }

  /** Ends the recording and sends it; the message is in the conversation as 'sending', then 'stored' or 'failed'. */
  async finish(id: string): Promise<RecordingView> {
    const recording = this.recordingById(id);
    if (recording.view.state !== 'recording' && recording.view.state !== 'greeting') return { ...recording.view };
    this.endCapture(recording);
    if (recording.view.elapsedMs < MIN_VOICE_MS) {
      recording.view.state = 'cancelled';
      this.deps.onRecording({ ...recording.view });
      return { ...recording.view };
    }
    const sent = recording.view.kind === 'greeting' ? this.keepGreeting(recording) : this.send(recording);
    this.track(sent);
    await sent.then(
      () => undefined,
      () => undefined,
    );
    return { ...recording.view };
  }

  cancel(id: string): RecordingView {
    const recording = this.recordingById(id);
    if (recording.view.state === 'greeting' || recording.view.state === 'recording') {
      this.endCapture(recording);
      recording.view.state = 'cancelled';
      this.deps.onRecording({ ...recording.view });
    }
    return { ...recording.view };
  }

  private recordingById(id: string): Recording {
    if (!this.recording || this.recording.view.id !== id) throw new UserError('NOT_FOUND', 'No such voice message being recorded.');
    return this.recording;
  }

  /** The callee's greeting and the tone go to the speaker first; the microphone is heard from their end. */
  private preludeThenRecord(recording: Recording): void {
    this.playInRealTime(recording.prelude, this.deps.audio.speakerSink(this.deps.recorder), {
      wanted: () => recording.view.state === 'greeting',
      timer: (handle) => (recording.timer = handle),
      done: () => {
        recording.view.state = 'recording';
        recording.startedAt = this.now();
        this.drain(recording.source);
        this.deps.onRecording({ ...recording.view });
        this.capture(recording);
      },
    });
  }

  /** Writes `frames` to `sink` in real time (catching up after a late timer) while `wanted()`; `done` once all are out. */
  private playInRealTime(frames: Int16Array[], sink: AudioSink, hooks: { wanted(): boolean; timer(handle: TimerHandle): void; played?(count: number): void; done(): void }): void {
    const started = this.now();
    let played = 0;
    const tick = () => {
      if (!hooks.wanted()) return;
      const due = Math.min(frames.length, Math.floor((this.now() - started) / VOICE_FRAME_MS) + 1);
      for (; played < due; played++) sink.write(frames[played], OPUS_SAMPLE_RATE);
      hooks.played?.(played);
      if (played < frames.length) hooks.timer(this.timers.set(VOICE_FRAME_MS, tick));
      else hooks.done();
    };
    tick();
  }

  /** Reads the microphone in real time (catching up after a late timer), one Opus packet per 20 ms. */
  private capture(recording: Recording): void {
    const samples = frameSamples(OPUS_SAMPLE_RATE);
    const tick = () => {
      if (recording.view.state !== 'recording') return;
      const maxFrames = recording.view.maxMs / VOICE_FRAME_MS;
      const due = Math.min(maxFrames, Math.floor((this.now() - recording.startedAt) / VOICE_FRAME_MS));
      let announced = Math.floor(recording.view.elapsedMs / 1000);
      for (; recording.frames < due; recording.frames++) {
        const frame = recording.source.read(OPUS_SAMPLE_RATE) ?? new Int16Array(samples);
        recording.packets.push(recording.codec.encode(frame));
        recording.view.elapsedMs = (recording.frames + 1) * VOICE_FRAME_MS;
        if (Math.floor(recording.view.elapsedMs / 1000) !== announced) {
          announced = Math.floor(recording.view.elapsedMs / 1000);
          this.deps.onRecording({ ...recording.view });
        }
      }
      if (recording.frames >= maxFrames) {
        // The longest a message (2 minutes) or greeting may be: it is sent as if the caller had hung up.
        void this.finish(recording.view.id);
        return;
      }
      recording.timer = this.timers.set(VOICE_FRAME_MS, tick);
    };
    recording.timer = this.timers.set(VOICE_FRAME_MS, tick);
  }

  private endCapture(recording: Recording): void {
    if (recording.timer) this.timers.clear(recording.timer);
    recording.timer = undefined;
    recording.codec.close();
  }

  /** What the microphone queued before the tone ended is not part of the message. */
  private drain(source: AudioSource): void {
    if (this.deps.playSource) return;
    for (let i = 0; i < 50 && source.read(OPUS_SAMPLE_RATE); i++);
  }

  private async send(recording: Recording): Promise<void> {
    recording.view.state = 'sending';
    const durationMs = recording.packets.length * VOICE_FRAME_MS;
    const audio = packVoice(recording.packets);
    const at = this.now();
    const stored = await this.deps.messages.add({
      peer: recording.view.to,
      direction: 'out',
      text: 'Voice message',
      status: 'sending',
      sipCallId: recording.view.id,
      sipCseq: 1,
      at,
      encrypted: true,
      voice: { codec: VOICE_CODEC, durationMs, audio },
    });
    if (!stored) throw new Error('the voice message could not be stored');
    recording.view.messageId = stored.id;
    this.deps.onRecording({ ...recording.view });
    this.deps.onMessage(stored, 'added');
    let reason: string | undefined;
    try {
      const found = await this.deps.overlay.lookupAor(recording.view.to);
      if (!found.owner || !found.x25519) reason = `${recording.view.to} cannot receive voice messages`;
      else {
        const kept = await this.deps.mailbox.store({ to: recording.view.to, callId: recording.view.id, seq: stored.id, at, text: 'Voice message' }, { owner: found.owner, x25519: found.x25519 }, { audio, durationMs });
        if (!kept.ok) reason = kept.reason;
      }
    } catch (error) {
      reason = (error as Error).message;
    }
    const settled = await this.deps.messages.settle(stored.id, reason ? 'failed' : 'stored', reason ? `The voice message could not be kept for ${recording.view.to}: ${reason}` : undefined, this.now());
    if (settled) this.deps.onMessage(settled, 'updated');
    if (!reason && this.deps.sendMailboxHint) this.track(this.deps.sendMailboxHint(recording.view.to));
    recording.view.state = reason ? 'failed' : 'sent';
    if (reason) recording.view.reason = reason;
    this.deps.onRecording({ ...recording.view });
    this.deps.log.info('voice message left', { to: recording.view.to, durationMs, bytes: audio.length, ok: !reason, reason });
  }

  private async keepGreeting(recording: Recording): Promise<void> {
    recording.view.state = 'sending';
    this.deps.onRecording({ ...recording.view });
    const audio = packVoice(recording.packets);
    this.greeting = { audio: audio.toString('base64url'), durationMs: recording.packets.length * VOICE_FRAME_MS };
    await this.deps.settings.set(GREETING_KEY, this.greeting);
    const published = await this.deps.mailbox.publishGreeting(audio).catch((error: unknown) => ({ ok: false as const, reason: String(error) }));
    // Kept here either way; the overlay gets it at the next try when it could not now.
    if (!published.ok) this.scheduleRepublish(30_000);
    recording.view.state = 'sent';
    this.deps.onRecording({ ...recording.view });
  }

  // ---- listening ----

  /** Plays a voice message into the speaker (and the --record file); played to the end, it is listened. */
  async play(messageId: number): Promise<PlaybackView> {
    const message = await this.deps.messages.byId(messageId);
    const stored = message?.voice ? await this.deps.messages.voiceAudio(messageId) : undefined;
    if (!message?.voice || !stored) throw new UserError('NOT_FOUND', 'No such voice message.');
    const frames = stored.codec === VOICE_CODEC ? decodeAll(stored.audio) : [];
    if (!frames.length) throw new UserError('INVALID_STATE', 'This voice message cannot be played (its audio is damaged).');
    this.stopPlayback();
    const playback: Playback = { view: { messageId, positionMs: 0, durationMs: frames.length * VOICE_FRAME_MS, playing: true } };
    this.playback = playback;
    this.deps.onPlayback({ ...playback.view });
    this.playInRealTime(frames, this.deps.audio.speakerSink(this.deps.recorder), {
      wanted: () => this.playback === playback,
      timer: (handle) => (playback.timer = handle),
      // The UI hears of each second played.
      played: (count) => {
        const second = Math.floor(playback.view.positionMs / 1000);
        playback.view.positionMs = count * VOICE_FRAME_MS;
        if (count < frames.length && Math.floor(playback.view.positionMs / 1000) !== second) this.deps.onPlayback({ ...playback.view });
      },
      done: () => {
        this.playback = undefined;
        playback.view.playing = false;
        this.deps.onPlayback({ ...playback.view });
        if (this.deps.recorder?.settle) this.track(this.deps.recorder.settle());
        if (message.direction === 'in') this.track(this.listened(message));
      },
    });
    return { ...playback.view };
  }

  stopPlayback(): PlaybackView | undefined {
    const playback = this.playback;
    if (!playback) return undefined;
    if (playback.timer) this.timers.clear(playback.timer);
    this.playback = undefined;
    playback.view.playing = false;
    this.deps.onPlayback({ ...playback.view });
    return { ...playback.view };
  }

  private async listened(message: StoredMessage): Promise<void> {
    const callId = await this.deps.messages.markListened(message.id, this.now());
    if (!callId) return;
    const updated = await this.deps.messages.byId(message.id);
    if (updated) this.deps.onMessage(updated, 'updated');
    await this.countsChanged();
    await this.deps.sendReceipt(message.peer, [callId]).catch((error: unknown) => this.deps.log.debug('no receipt for a heard voice message', { error: String(error) }));
  }

  /** Tells the phones (RFC 3842) how many voice messages wait; the mailbox calls it when one arrives. */
  async countsChanged(): Promise<void> {
    this.deps.onCountsChanged?.(await this.deps.messages.voiceCounts());
  }

  counts(): Promise<{ unheard: number; heard: number }> {
    return this.deps.messages.voiceCounts();
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => this.deps.log.warn('voicemail work failed', { error: String(error) }));
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}

/** The tone after a greeting, as 20 ms frames at 48 kHz. */
function beep(): Int16Array[] {
  const samples = frameSamples(OPUS_SAMPLE_RATE);
  return Array.from({ length: BEEP_MS / VOICE_FRAME_MS }, (_, n) => {
    const frame = new Int16Array(samples);
    for (let i = 0; i < samples; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * BEEP_HZ * (n * samples + i)) / OPUS_SAMPLE_RATE));
    return frame;
  });
}

/** Packed Opus to 20 ms frames at 48 kHz (nothing for audio that does not unpack). */
function decodeAll(packed: Buffer): Int16Array[] {
  const packets = unpackVoice(packed) ?? [];
  const codec = createOpusCodec();
  try {
    return packets.map((p) => codec.decode(p));
  } finally {
    codec.close();
  }
}

function normalize(s: VoicemailSettings): VoicemailSettings {
  const ring = Number.isInteger(s.ringSeconds) ? Math.min(MAX_VOICEMAIL_RING_S, Math.max(MIN_VOICEMAIL_RING_S, s.ringSeconds)) : DEFAULT_VOICEMAIL_RING_S;
  return { enabled: s.enabled !== false, ringSeconds: ring };
}
