import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expireAfterMs, formatSessionExpires, parseSessionExpires, refreshAfterMs, uacSessionTimer, uasSessionTimer } from '../../../native/proto/sip/session-timer.js';

describe('session timers (RFC 4028)', () => {
  it('reads and writes Session-Expires, refresher included', () => {
    assert.deepEqual(parseSessionExpires('1800;refresher=uac'), { seconds: 1800, refresher: 'uac' });
    assert.deepEqual(parseSessionExpires(' 90 ; refresher = UAS'), { seconds: 90, refresher: 'uas' });
    assert.deepEqual(parseSessionExpires('4000;foo=bar'), { seconds: 4000 });
    assert.equal(parseSessionExpires('soon'), undefined);
    assert.equal(parseSessionExpires(undefined), undefined);
    assert.equal(formatSessionExpires({ seconds: 1800, refresher: 'uas' }), '1800;refresher=uas');
  });

  it('as UAS: keeps the caller as refresher when it supports timers, takes it on when it does not, refuses too short an interval', () => {
    assert.deepEqual(uasSessionTimer({ supported: 'timer, replaces', 'session-expires': '600' }), { intervalS: 600, refresher: 'uac', require: true });
    assert.deepEqual(uasSessionTimer({ 'session-expires': '600' }), { intervalS: 600, refresher: 'uas', require: false }, 'a proxy inserted it; the caller cannot refresh');
    assert.deepEqual(uasSessionTimer({ supported: 'timer', 'session-expires': '600;refresher=uas' }), { intervalS: 600, refresher: 'uas', require: true });
    assert.deepEqual(uasSessionTimer({ supported: 'timer' }, 1800), { intervalS: 1800, refresher: 'uac', require: true });
    assert.equal(uasSessionTimer({}), undefined, 'no timer when neither side asked');
    assert.deepEqual(uasSessionTimer({ 'session-expires': '30' }), { tooSmall: 90 });
  });

  it('as UAC: reads the 2xx, the refresher ours when it names none', () => {
    assert.deepEqual(uacSessionTimer({ 'session-expires': '1800;refresher=uas' }), { intervalS: 1800, refresher: 'uas' });
    assert.deepEqual(uacSessionTimer({ 'session-expires': '1800' }), { intervalS: 1800, refresher: 'uac' });
    assert.equal(uacSessionTimer({}), undefined);
  });

  it('refreshes at half the interval, and gives up a third (at most 32 s) before its end', () => {
    assert.equal(refreshAfterMs(1800), 900_000);
    assert.equal(expireAfterMs(1800), 1_768_000);
    assert.equal(expireAfterMs(90), 60_000);
  });
});
