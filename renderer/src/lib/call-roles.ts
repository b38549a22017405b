// Which of the calls not yet ended goes where on screen, and which sound plays: pure functions
// of the call list, so the screens, the tones and the audio always agree.
import type { ToneName } from './audio/tone-cadence.js';
import type { CallView } from './control-types.js';

export interface CallRoles {
  /** The call the in-call screen shows: the one talking, else the one being dialled, else a held one. */
  current?: CallView;
  /** Ringing here, waiting for Answer or Decline (the oldest, when several ring). */
  incoming?: CallView;
  /** True when `incoming` rings while another call is on: answering it holds that one (call waiting). */
  waiting: boolean;
  /** Calls on hold behind `current`. */
  held: CallView[];
}

const heldHere = (call: CallView) => call.hold === 'local' || call.hold === 'both';
const live = (call: CallView) => call.state !== 'ended' && call.state !== 'incoming';

export function callRoles(calls: readonly CallView[]): CallRoles {
  const others = calls.filter(live);
  const current =
    others.find((call) => call.state === 'active' && !heldHere(call)) ??
    others.find((call) => call.state === 'calling' || call.state === 'ringing') ??
    others.findLast((call) => call.state === 'active');
  const incoming = calls.find((call) => call.state === 'incoming');
  return {
    current,
    incoming,
    waiting: incoming !== undefined && others.length > 0,
    held: others.filter((call) => call !== current),
  };
}

/** The tone to play now, if any. */
export function toneFor(calls: readonly CallView[]): ToneName | undefined {
  const { incoming, waiting } = callRoles(calls);
  // A stranger's call request (the "ask" policy) is shown without a sound.
  if (incoming) return incoming.request ? undefined : waiting ? 'call-waiting' : 'ring';
  // A callee that sends early media (its network's ringback or an announcement) is heard instead.
  if (calls.some((call) => call.direction === 'out' && call.state === 'ringing' && !call.earlyMedia)) return 'ringback';
  return undefined;
}

/** Whether the microphone and speaker should run: while any call is connected. */
export function wantsCallAudio(calls: readonly CallView[]): boolean {
  return calls.some((call) => call.state === 'active' || call.earlyMedia === true);
}
