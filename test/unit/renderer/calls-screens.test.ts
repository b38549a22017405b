// What the call screens decide: which call shows where, which tone plays, how states, durations,
// quality and history read, and which devices are offered and remembered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallHistoryEntry, CallView } from '../../../native/control/api.js';
import { bursts, CADENCES, cadenceLength, frequenciesAt } from '../../../renderer/src/lib/audio/tone-cadence.js';
import { callStateLabel, candidateWords, encryptionNote, formatDuration, historyKind, outcomeLabel, pathDetails, pathLine, qualityFigures, talkSeconds, type MediaPath } from '../../../renderer/src/lib/call-format.js';
import { callRoles, toneFor, wantsCallAudio } from '../../../renderer/src/lib/call-roles.js';
import { availableChoice, deviceOptions, loadDeviceChoice, saveDeviceChoice } from '../../../renderer/src/lib/device-choice.js';

let nextId = 1;
const call = (over: Partial<CallView>): CallView => ({
  id: `c${nextId++}`,
  direction: 'out',
  peer: 'sip:bob@peerdial',
  state: 'active',
  hold: 'none',
  muted: false,
  startedAt: 1_000,
  dtmfReceived: '',
  ...over,
});

describe('calls on screen', () => {
  it('says how a call is protected: end to end, to the phone (a lock too), or not at all', () => {
    assert.equal(encryptionNote(call({ encryption: 'end-to-end' }))?.label, 'Encrypted end to end');
    const toPhone = encryptionNote(call({ encryption: 'to-phone' }));
    assert.equal(toPhone?.label, 'Encrypted to the phone');
    assert.equal(toPhone?.secure, true);
    assert.match(toPhone?.explanation ?? '', /TLS/);
    assert.equal(encryptionNote(call({ encryption: 'none' }))?.secure, false);
    assert.equal(encryptionNote(call({})), undefined, 'nothing before the audio is agreed');
  });

  it('shows a lone ringing call as an incoming call with its ring tone, and no call audio yet', () => {
    const ringing = call({ direction: 'in', state: 'incoming' });
    const roles = callRoles([ringing]);
    assert.equal(roles.incoming, ringing);
    assert.equal(roles.waiting, false);
    assert.equal(roles.current, undefined);
    assert.equal(toneFor([ringing]), 'ring');
    assert.equal(wantsCallAudio([ringing]), false);
  });

  it('shows a stranger\'s call request (the "ask" policy) without any tone, alone or while talking', () => {
    const request = call({ direction: 'in', state: 'incoming', request: true });
    assert.equal(callRoles([request]).incoming, request);
    assert.equal(toneFor([request]), undefined);
    assert.equal(toneFor([call({ state: 'active' }), request]), undefined);
  });

  it('offers call waiting for a second call while talking, with a quiet beep instead of the ring', () => {
    const talking = call({ state: 'active' });
    const second = call({ direction: 'in', state: 'incoming', peer: 'sip:carol@peerdial' });
    const roles = callRoles([talking, second]);
    assert.equal(roles.current, talking);
    assert.equal(roles.incoming, second);
    assert.equal(roles.waiting, true);
    assert.equal(toneFor([talking, second]), 'call-waiting');
    assert.equal(wantsCallAudio([talking, second]), true);
  });

  it('puts the call being talked in on screen and the held one aside', () => {
    const held = call({ state: 'active', hold: 'local' });
    const talking = call({ state: 'active', peer: 'sip:carol@peerdial' });
    const roles = callRoles([held, talking]);
    assert.equal(roles.current, talking);
    assert.deepEqual(roles.held, [held]);
  });

  it('plays ringback only while the other phone rings', () => {
    assert.equal(toneFor([call({ state: 'calling' })]), undefined);
    assert.equal(toneFor([call({ state: 'ringing' })]), 'ringback');
    assert.equal(toneFor([call({ state: 'active' })]), undefined);
    assert.equal(toneFor([]), undefined);
  });

  it('plays the callee\'s early media instead of our ringback, with the speaker on', () => {
    assert.equal(toneFor([call({ state: 'ringing', earlyMedia: true })]), undefined);
    assert.equal(wantsCallAudio([call({ state: 'ringing', earlyMedia: true })]), true);
    assert.equal(wantsCallAudio([call({ state: 'ringing' })]), false);
  });

  it('names each state as the in-call screen shows it', () => {
    assert.equal(callStateLabel(call({ state: 'calling' })), 'Calling…');
    assert.equal(callStateLabel(call({ state: 'ringing' })), 'Ringing…');
    assert.equal(callStateLabel(call({ state: 'active' })), 'Connected');
    assert.equal(callStateLabel(call({ state: 'active', hold: 'local' })), 'On hold');
    assert.equal(callStateLabel(call({ state: 'active', hold: 'both' })), 'On hold');
    assert.equal(callStateLabel(call({ state: 'active', hold: 'remote' })), 'They put you on hold');
  });

  it('counts talk time from the answer, and formats it like a phone', () => {
    assert.equal(talkSeconds(call({ answeredAt: undefined }), 99_000), 0);
    assert.equal(talkSeconds(call({ answeredAt: 10_000 }), 17_900), 7);
    assert.equal(talkSeconds(call({ answeredAt: 10_000, endedAt: 70_000 }), 999_000), 60);
    assert.equal(formatDuration(7), '0:07');
    assert.equal(formatDuration(754), '12:34');
    assert.equal(formatDuration(3723), '1:02:03');
  });

  it('shows quality figures with their units, and says when the round trip is not known yet', () => {
    const figures = qualityFigures({ codec: 'PCMU', packetsSent: 10, packetsReceived: 9, lossFraction: 0.0125, jitterMs: 3.6 });
    assert.deepEqual(figures, { codec: 'PCMU', loss: '1.3 %', jitter: '4 ms', roundTrip: 'not measured yet' });
    assert.equal(qualityFigures({ codec: 'PCMA', packetsSent: 1, packetsReceived: 1, lossFraction: 0, jitterMs: 0, rttMs: 41.4 }).roundTrip, '41 ms');
    assert.equal(qualityFigures({ codec: 'opus', packetsSent: 1, packetsReceived: 1, lossFraction: 0, jitterMs: 0 }).codec, 'Opus (wideband)');
    assert.equal(qualityFigures({ codec: 'G722', packetsSent: 1, packetsReceived: 1, lossFraction: 0, jitterMs: 0 }).codec, 'G.722 (wideband)');
    const rated = qualityFigures({ codec: 'PCMU', packetsSent: 1, packetsReceived: 1, lossFraction: 0, jitterMs: 0, bitrateKbps: 64.2, mos: 4.4 });
    assert.equal(rated.bitrate, '64 kbit/s');
    assert.equal(rated.rating, '4.4 (excellent)');
    assert.equal(qualityFigures({ codec: 'PCMU', packetsSent: 1, packetsReceived: 1, lossFraction: 0.1, jitterMs: 30, mos: 3.3 }).rating, '3.3 (poor)');
  });

  it('says in one line how the audio travels: direct, or relayed by a member known by its address, with the round trip', () => {
    const path = (over: Partial<MediaPath>): MediaPath => ({ kind: 'direct', text: 'direct', local: 'host 192.168.1.20:40000', remote: 'host 192.168.1.21:40002', ...over });
    assert.equal(pathLine(path({ rttMs: 12.2 })), 'Direct, 12 ms');
    assert.equal(pathLine(path({})), 'Direct', 'before the first check answers, no round trip');
    assert.equal(pathLine(path({ rttMs: 0.36 })), 'Direct, 0.4 ms');
    assert.equal(pathLine(path({ kind: 'relayed', text: 'relayed by 198.51.100.11:43401', rttMs: 31 })), 'Relayed by 198.51.100.11, 31 ms');
    assert.equal(pathLine(path({ kind: 'relayed', text: 'relayed by [2001:db8::11]:3478', rttMs: 31 })), 'Relayed by 2001:db8::11, 31 ms');
    assert.equal(pathLine(path({ kind: 'relayed', text: 'relayed by your TURN server', rttMs: 48.6 })), 'Relayed by your TURN server, 49 ms');
    assert.equal(pathLine(path({ kind: 'relayed', text: "relayed by the other side's relay" })), "Relayed by the other side's relay");
    assert.equal(pathLine(path({ kind: 'relayed', text: '' })), 'Relayed');
  });

  it('shows both ends of the path in words and how long the checks took', () => {
    assert.equal(candidateWords('srflx 203.0.113.7:40012'), '203.0.113.7:40012 (public address)');
    assert.equal(candidateWords('relay 198.51.100.11:5000'), '198.51.100.11:5000 (on a relay)');
    assert.equal(candidateWords('host 192.168.1.20:40000'), '192.168.1.20:40000 (own address)');
    assert.equal(candidateWords('prflx 203.0.113.9:5100'), '203.0.113.9:5100 (public address, met in the checks)');
    assert.equal(candidateWords('weird 1.2.3.4:5'), 'weird 1.2.3.4:5', 'an unknown kind shows as the engine said it');
    assert.deepEqual(pathDetails({ kind: 'relayed', text: 'relayed by 198.51.100.11:43401', rttMs: 31, checksMs: 140, local: 'relay 198.51.100.11:5000', remote: 'srflx 203.0.113.7:40012' }), {
      yourEnd: '198.51.100.11:5000 (on a relay)',
      theirEnd: '203.0.113.7:40012 (public address)',
      foundIn: '140 ms',
    });
    assert.equal(pathDetails({ kind: 'direct', text: 'direct', checksMs: 2_340, local: 'host 10.0.0.1:1', remote: 'host 10.0.0.2:2' }).foundIn, '2.3 s');
    assert.equal('foundIn' in pathDetails({ kind: 'direct', text: 'direct', local: 'host 10.0.0.1:1', remote: 'host 10.0.0.2:2' }), false);
  });

  it('marks missed incoming calls in the history, and words each outcome', () => {
    const entry = (over: Partial<CallHistoryEntry>): CallHistoryEntry => ({
      id: 1,
      direction: 'in',
      peer: 'sip:bob@peerdial',
      outcome: 'answered',
      startedAt: 0,
      endedAt: 1,
      durationSeconds: 0,
      ...over,
    });
    assert.equal(historyKind(entry({ outcome: 'missed' })), 'Missed');
    assert.equal(historyKind(entry({ outcome: 'answered' })), 'Incoming');
    assert.equal(historyKind(entry({ direction: 'out', outcome: 'missed' })), 'Outgoing');
    assert.equal(outcomeLabel(entry({ outcome: 'busy' })), 'Busy');
    assert.equal(outcomeLabel(entry({ outcome: 'failed', endMessage: '503 Service Unavailable' })), '503 Service Unavailable');
  });
});

describe('call tones', () => {
  it('ringback is 425 Hz, one second on and four off', () => {
    assert.deepEqual(frequenciesAt(CADENCES.ringback, 0.5), [425]);
    assert.deepEqual(frequenciesAt(CADENCES.ringback, 2), []);
    assert.deepEqual(frequenciesAt(CADENCES.ringback, 5.5), [425]);
    assert.equal(cadenceLength(CADENCES.ringback), 5);
  });

  it('schedules every burst within the horizon, cut at its end', () => {
    const ring = bursts(CADENCES.ring, 6);
    assert.deepEqual(
      ring.map((b) => [Number(b.start.toFixed(3)), Number(b.end.toFixed(3))]),
      [
        [0, 0.4],
        [0.6, 1],
        [3, 3.4],
        [3.6, 4],
      ],
    );
    assert.deepEqual(bursts(CADENCES.ringback, 0.5), [{ start: 0, end: 0.5, frequencies: [425] }]);
  });
});

describe('audio device choice', () => {
  const devices = [
    { deviceId: 'default', kind: 'audioinput', label: 'Default' },
    { deviceId: 'mic-a', kind: 'audioinput', label: 'USB headset' },
    { deviceId: 'mic-b', kind: 'audioinput', label: '' },
    { deviceId: 'spk-a', kind: 'audiooutput', label: 'Speakers' },
    { deviceId: 'cam', kind: 'videoinput', label: 'Camera' },
  ] as const;

  it('offers the system default first, names unnamed devices, and leaves out other kinds', () => {
    assert.deepEqual(deviceOptions(devices, 'microphone'), [
      { id: '', label: 'System default' },
      { id: 'mic-a', label: 'USB headset' },
      { id: 'mic-b', label: 'Microphone 2' },
    ]);
    assert.deepEqual(
      deviceOptions(devices, 'speaker').map((o) => o.id),
      ['', 'spk-a'],
    );
  });

  it('remembers the choice across restarts, and forgets a choice of the default', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v), removeItem: (k: string) => void store.delete(k) };
    saveDeviceChoice(storage, { microphone: 'mic-a', speaker: 'spk-a' });
    assert.deepEqual(loadDeviceChoice(storage), { microphone: 'mic-a', speaker: 'spk-a' });
    saveDeviceChoice(storage, { microphone: 'mic-a' });
    assert.deepEqual(loadDeviceChoice(storage), { microphone: 'mic-a', speaker: undefined });
  });

  it('falls back to the default for a remembered device that is unplugged', () => {
    const mics = deviceOptions(devices, 'microphone');
    const speakers = deviceOptions(devices, 'speaker');
    assert.deepEqual(availableChoice({ microphone: 'gone', speaker: 'spk-a' }, mics, speakers), { microphone: undefined, speaker: 'spk-a' });
  });
});
