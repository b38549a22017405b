// Plays a call-progress tone (tone-cadence.ts) with Web Audio oscillators until stopped. The
// cadence is scheduled ahead on the audio clock (so it keeps time even when the page is busy)
// and topped up before the scheduled part runs out.
import { bursts, CADENCES, cadenceLength, type ToneName } from './tone-cadence.js';

const SCHEDULE_AHEAD_SECONDS = 30;
const VOLUME: Record<ToneName, number> = { ringback: 0.12, ring: 0.2, 'call-waiting': 0.08 };
/** A few ms of fade in and out, so bursts start and stop without clicks. */
const RAMP = 0.01;

export class CallTone {
  private context?: AudioContext;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly name: ToneName,
    private readonly speaker?: string,
  ) {}

  start(): void {
    const context = new AudioContext();
    this.context = context;
    if (this.speaker) void (context as unknown as { setSinkId?(id: string): Promise<void> }).setSinkId?.(this.speaker).catch(() => undefined);
    void context.resume().catch(() => undefined);
    const cadence = CADENCES[this.name];
    // Whole cycles at a time, so each top-up starts at the beginning of the pattern.
    const cycle = cadenceLength(cadence);
    const span = Math.max(1, Math.floor(SCHEDULE_AHEAD_SECONDS / cycle)) * cycle;
    const output = context.createGain();
    output.gain.value = VOLUME[this.name];
    output.connect(context.destination);
    const schedule = (from: number) => {
      for (const burst of bursts(cadence, span)) {
        const envelope = context.createGain();
        envelope.gain.setValueAtTime(0, from + burst.start);
        envelope.gain.linearRampToValueAtTime(1 / burst.frequencies.length, from + burst.start + RAMP);
        envelope.gain.setValueAtTime(1 / burst.frequencies.length, from + burst.end - RAMP);
        envelope.gain.linearRampToValueAtTime(0, from + burst.end);
        envelope.connect(output);
        for (const frequency of burst.frequencies) {
          const oscillator = context.createOscillator();
          oscillator.frequency.value = frequency;
          oscillator.connect(envelope);
          oscillator.start(from + burst.start);
          oscillator.stop(from + burst.end);
        }
      }
      this.timer = setTimeout(() => schedule(from + span), Math.max(0, (from + span - context.currentTime - 2) * 1000));
    };
    schedule(context.currentTime + 0.05);
  }

  stop(): void {
    clearTimeout(this.timer);
    void this.context?.close().catch(() => undefined);
    this.context = undefined;
  }
}
