// What the Network screen's "Relays" card shows: the relay's state in words, what it relayed
// in units people read, the caps form (a number each; the ranges are the engine's to refuse),
// and each relay of the finder's list as a line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RelayCandidateView } from '../../../native/control/api.js';
import {
  callsWords,
  capsForm,
  capsFromForm,
  measuredWords,
  millisecondsWords,
  rateOfCapWords,
  rateWords,
  relayedTodayWords,
  relayLine,
  relayStateWords,
} from '../../../renderer/src/lib/relay-format.js';

const relay = (over: Partial<RelayCandidateView>): RelayCandidateView => ({
  label: '198.51.100.11:43401',
  address: '198.51.100.11:43401',
  transport: 'udp',
  source: 'overlay',
  ready: false,
  ...over,
});

describe('the relay this node runs for others', () => {
  it('names each state as a person would', () => {
    assert.equal(relayStateWords('running'), 'running');
    assert.equal(relayStateWords('off'), 'off');
    assert.equal(relayStateWords('not-eligible'), 'not relaying');
    assert.equal(relayStateWords('failed'), 'could not start');
  });

  it('shows the rate in kbit/s below a megabit and in Mbit/s above, against the cap', () => {
    assert.equal(rateWords(0), '0 kbit/s');
    assert.equal(rateWords(-5), '0 kbit/s');
    assert.equal(rateWords(Number.NaN), '0 kbit/s');
    assert.equal(rateWords(87_400), '87 kbit/s');
    assert.equal(rateWords(999_400), '999 kbit/s');
    assert.equal(rateWords(1_500_000), '1.5 Mbit/s');
    assert.equal(rateWords(12_500_000), '12.5 Mbit/s');
    assert.equal(rateOfCapWords(174_000, 10), '174 kbit/s of 10 Mbit/s');
    assert.equal(rateOfCapWords(0, 2.5), '0 kbit/s of 2.5 Mbit/s');
  });

  it('shows what was relayed today against the daily volume', () => {
    assert.equal(relayedTodayWords(0, 5), '0 B of 5 GB');
    assert.equal(relayedTodayWords(2_400_000, 5), '2.4 MB of 5 GB');
    assert.equal(relayedTodayWords(1_234_000_000, 0.5), '1.23 GB of 500 MB');
  });

  it('counts calls in words', () => {
    assert.equal(callsWords(0), '0 calls');
    assert.equal(callsWords(1), '1 call');
    assert.equal(callsWords(1234), '1,234 calls');
  });
});

describe('the caps form', () => {
  it('starts from the engine\'s settings', () => {
    assert.deepEqual(capsForm({ maxMbit: 10, maxGbPerDay: 0.5 }), { maxMbit: '10', maxGbPerDay: '0.5' });
  });

  it('reads numbers, spaces around them allowed', () => {
    assert.deepEqual(capsFromForm({ maxMbit: ' 2.5 ', maxGbPerDay: '20' }), { ok: true, value: { maxMbit: 2.5, maxGbPerDay: 20 } });
  });

  it('names the field that is not a number', () => {
    assert.deepEqual(capsFromForm({ maxMbit: '', maxGbPerDay: '5' }), { ok: false, field: 'maxMbit', message: 'The bandwidth cap must be a number.' });
    assert.deepEqual(capsFromForm({ maxMbit: '10', maxGbPerDay: 'lots' }), { ok: false, field: 'maxGbPerDay', message: 'The daily volume must be a number.' });
  });

  it('leaves the ranges to the engine, whose refusal names the limits: 0 passes here', () => {
    assert.deepEqual(capsFromForm({ maxMbit: '0', maxGbPerDay: '5' }), { ok: true, value: { maxMbit: 0, maxGbPerDay: 5 } });
  });
});

describe('the relays for your calls', () => {
  it('reads a member\'s ready relay with its round trip, load and spare bandwidth', () => {
    assert.deepEqual(relayLine(relay({ rttMs: 31.4, load: 2, headroomMbit: 9.5, ready: true })), {
      name: '198.51.100.11:43401',
      figures: '31 ms round trip, carrying 2 calls, 9.5 Mbit/s spare',
      ready: true,
      status: 'ready for your calls',
    });
  });

  it('says when a relay was found on this LAN (DNS-SD gives no load or spare bandwidth)', () => {
    assert.deepEqual(relayLine(relay({ source: 'lan', rttMs: 0.3, ready: true })), {
      name: '198.51.100.11:43401, on this LAN',
      figures: '0.3 ms round trip',
      ready: true,
      status: 'ready for your calls',
    });
  });

  it('says why a relay is not used, or that it waits in reserve behind the best two', () => {
    const silent = relayLine(relay({ headroomMbit: 10, note: 'did not answer' }));
    assert.equal(silent.figures, 'round trip not measured, 10 Mbit/s spare');
    assert.equal(silent.status, 'did not answer');
    assert.equal(silent.ready, false);
    assert.equal(relayLine(relay({ rttMs: 40, load: 0, headroomMbit: 10 })).status, 'in reserve: the best two are kept ready');
  });

  it('shows a round trip below 10 ms to a tenth, and says when a relay is reached over TCP', () => {
    assert.equal(relayLine(relay({ rttMs: 0.43, load: 1, headroomMbit: 0.25, transport: 'tcp', ready: true })).figures, '0.4 ms round trip, carrying 1 call, 0.25 Mbit/s spare, over TCP');
    assert.equal(millisecondsWords(3), '3 ms');
    assert.equal(millisecondsWords(9.96), '10 ms');
    assert.equal(millisecondsWords(120.6), '121 ms');
  });

  it('names the user\'s own TURN server as theirs', () => {
    const own = relayLine(relay({ label: 'your TURN server', address: 'turn.example.org:3478', source: 'configured', ready: true }));
    assert.equal(own.name, 'Your TURN server (turn.example.org:3478)');
    assert.equal(own.figures, 'round trip not measured');
    assert.equal(own.status, 'ready for your calls');
  });

  it('says when the finder last looked', () => {
    const timeOf = (ms: number) => `T${ms}`;
    assert.equal(measuredWords({ relays: [], measuredAt: 42 }, timeOf), 'Looked for relays at T42.');
    assert.equal(measuredWords({ relays: [] }, timeOf), 'Not looked for relays yet.');
  });
});
