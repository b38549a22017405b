// What the Rescue screen shows: bytes and bandwidth in units people read, the donation form's
// limits and the sentences for a wrong field, the served-bandwidth chart's geometry (scale, gaps,
// the current and peak values), and how the node and its helped sites read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RescueSample, RescueSiteView, RescueView } from '../../../native/control/api.js';
import {
  advertisedLines,
  allowedRateWords,
  bandwidthChart,
  donationForm,
  donationFromForm,
  formatBytes,
  formatCount,
  formatMbit,
  formatPercent,
  niceScale,
  rescueStateWords,
  sampleMbit,
  siteWhenWords,
  sitesInOrder,
  usageOf,
} from '../../../renderer/src/lib/rescue-format.js';

const BOX = { left: 40, top: 10, width: 480, height: 100 };
const BOTTOM = BOX.top + BOX.height;
const T0 = 1_700_000_000_000;

/** One sample a second ending at `end`, with the given megabits in each second. */
function samplesEndingAt(end: number, mbits: number[]): RescueSample[] {
  return mbits.map((mbit, i) => ({ at: end - (mbits.length - 1 - i) * 1000, bytes: (mbit * 1e6) / 8, requests: 1 }));
}

const site = (over: Partial<RescueSiteView>): RescueSiteView => ({
  originId: '0123456789abcdef',
  site: 'http://example.org/',
  state: 'active',
  allowedRps: 50,
  requestsServed: 0,
  bytesServed: 0,
  cacheHits: 0,
  startedAt: T0,
  ...over,
});

const view = (over: Partial<RescueView>): RescueView => ({
  settings: { enabled: true, donateMbit: 10, donateGbPerDay: 5, cacheMb: 500 },
  state: 'normal',
  advertised: { overlay: false, mdns: false },
  sites: [],
  totals: { requestsServed: 0, bytesServed: 0, cacheHits: 0, hitRatio: 0, bytesToday: 0, cacheBytes: 0, refused: 0, filledFromPeers: 0, refusedHosts: 0 },
  samples: [],
  ...over,
});

describe('rescue numbers on screen', () => {
  it('writes bytes in decimal units with three significant digits at most', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(-5), '0 B');
    assert.equal(formatBytes(812), '812 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1000), '1 kB');
    assert.equal(formatBytes(51_200), '51.2 kB');
    assert.equal(formatBytes(120e6), '120 MB');
    assert.equal(formatBytes(1.5e9), '1.5 GB');
    assert.equal(formatBytes(999_999), '1 MB');
    assert.equal(formatBytes(2_345e12), '2,345 TB');
  });

  it('turns a one-second sample into Mbit/s and writes bandwidth readably', () => {
    assert.equal(sampleMbit({ at: 0, bytes: 125_000, requests: 3 }), 1);
    assert.equal(formatMbit(0), '0 Mbit/s');
    assert.equal(formatMbit(0.4213), '0.42 Mbit/s');
    assert.equal(formatMbit(4.83), '4.8 Mbit/s');
    assert.equal(formatMbit(12.54), '12.5 Mbit/s');
    assert.equal(formatMbit(1250.2), '1,250 Mbit/s');
    assert.equal(formatMbit(Number.NaN), '0 Mbit/s');
  });

  it('groups counts, and never rounds a few hits to 0% nor almost all to 100%', () => {
    assert.equal(formatCount(1234), '1,234');
    assert.equal(formatPercent(0), '0%');
    assert.equal(formatPercent(0.004), '<1%');
    assert.equal(formatPercent(0.874), '87%');
    assert.equal(formatPercent(0.998), '>99%');
    assert.equal(formatPercent(1), '100%');
    assert.equal(formatPercent(3), '100%');
  });

  it('shows use against a cap, with the meter full at the cap and empty without one', () => {
    assert.deepEqual(usageOf(1.2e9, 10e9), { text: '1.2 GB of 10 GB', fraction: 0.12 });
    assert.equal(usageOf(20e9, 10e9).fraction, 1);
    assert.equal(usageOf(5, 0).fraction, 0);
  });
});

describe('the donation form', () => {
  it('starts from the engine settings and gives them back as numbers', () => {
    const form = donationForm({ donateMbit: 2.5, donateGbPerDay: 10, cacheMb: 500 });
    assert.deepEqual(form, { donateMbit: '2.5', donateGbPerDay: '10', cacheMb: '500' });
    assert.deepEqual(donationFromForm({ donateMbit: ' 2.5 ', donateGbPerDay: '10', cacheMb: '500' }), {
      ok: true,
      value: { donateMbit: 2.5, donateGbPerDay: 10, cacheMb: 500 },
    });
  });

  it('accepts the ends of each range', () => {
    assert.equal(donationFromForm({ donateMbit: '0.1', donateGbPerDay: '0.1', cacheMb: '10' }).ok, true);
    assert.equal(donationFromForm({ donateMbit: '10000', donateGbPerDay: '100000', cacheMb: '1000000' }).ok, true);
  });

  it('names the wrong field and its range in a sentence', () => {
    const ok = { donateMbit: '1', donateGbPerDay: '1', cacheMb: '100' };
    assert.deepEqual(donationFromForm({ ...ok, donateMbit: '0' }), {
      ok: false,
      field: 'donateMbit',
      message: 'The upload to give must be a number from 0.1 to 10,000 Mbit/s.',
    });
    assert.deepEqual(donationFromForm({ ...ok, donateGbPerDay: '100001' }), {
      ok: false,
      field: 'donateGbPerDay',
      message: 'The daily volume must be a number from 0.1 to 100,000 GB.',
    });
    assert.deepEqual(donationFromForm({ ...ok, cacheMb: '9.9' }), {
      ok: false,
      field: 'cacheMb',
      message: 'The disk for the cache must be a number from 10 to 1,000,000 MB.',
    });
    for (const junk of ['', '  ', 'ten', '1,5', '-3', 'Infinity', '1e999']) {
      const parsed = donationFromForm({ ...ok, donateMbit: junk });
      assert.equal(parsed.ok, false, `"${junk}" is refused`);
      assert.equal(!parsed.ok && parsed.field, 'donateMbit');
    }
  });
});

describe('the bandwidth chart', () => {
  it('scales to the smallest 1, 2 or 5 times a power of ten above the peak', () => {
    assert.equal(niceScale(0), 1);
    assert.equal(niceScale(0.8), 1);
    assert.equal(niceScale(1), 1);
    assert.equal(niceScale(1.2), 2);
    assert.equal(niceScale(3), 5);
    assert.equal(niceScale(7.5), 10);
    assert.equal(niceScale(0.03), 0.05);
    assert.equal(niceScale(420), 500);
  });

  it('draws nothing but the axes before anything is served', () => {
    const chart = bandwidthChart([], T0, BOX);
    assert.equal(chart.line, '');
    assert.equal(chart.area, '');
    assert.equal(chart.peakMbit, 0);
    assert.equal(chart.currentMbit, 0);
    assert.equal(chart.scaleMbit, 1);
    assert.deepEqual(
      chart.ticks.map((t) => [t.mbit, t.y]),
      [
        [0, BOTTOM],
        [0.5, BOX.top + BOX.height / 2],
        [1, BOX.top],
      ],
    );
  });

  it('plots each second at its time, newest at the right edge, in Mbit/s against the scale', () => {
    const samples = samplesEndingAt(T0, [0.5, 1, 1.6]);
    const chart = bandwidthChart(samples, T0, BOX);
    assert.equal(chart.peakMbit, 1.6);
    assert.equal(chart.currentMbit, 1.6);
    assert.equal(chart.scaleMbit, 2);
    const last = chart.points.at(-1)!;
    assert.equal(last.x, BOX.left + BOX.width);
    assert.equal(last.y, BOTTOM - 0.8 * BOX.height);
    // The line rises from nothing a second before the first sample (no sample before it means nothing was served).
    assert.deepEqual(chart.points[0], { x: BOX.left + BOX.width - 3 * 4, y: BOTTOM, mbit: 0, at: T0 - 3000 });
    assert.equal(chart.points.length, 4);
    assert.match(chart.line, /^M [\d.]+ [\d.]+( L [\d.]+ [\d.]+){3}$/);
    assert.ok(chart.area.startsWith(chart.line) && chart.area.endsWith(`L ${BOX.left + BOX.width} ${BOTTOM} L ${chart.points[0].x} ${BOTTOM} Z`));
    assert.equal(chart.peakY, last.y);
  });

  it('shows seconds without a sample as nothing served, and drops to zero after the last one', () => {
    const samples = [...samplesEndingAt(T0 - 20_000, [1, 1]), ...samplesEndingAt(T0 - 5_000, [2])];
    const chart = bandwidthChart(samples, T0, BOX);
    const series = chart.points.map((p) => [(p.at - T0) / 1000, p.mbit]);
    assert.deepEqual(series, [
      [-22, 0],
      [-21, 1],
      [-20, 1],
      [-19, 0],
      [-6, 0],
      [-5, 2],
      [-4, 0],
      [0, 0],
    ]);
    assert.equal(chart.currentMbit, 0, 'the last sample is five seconds old: nothing is being served now');
    assert.equal(chart.peakMbit, 2);
  });

  it('keeps only the last two minutes, and follows the engine when its clock is ahead', () => {
    const old = { at: T0 - 200_000, bytes: 10e6, requests: 1 };
    const recent = samplesEndingAt(T0 + 500, [0.8]);
    const chart = bandwidthChart([old, ...recent], T0, BOX);
    assert.equal(chart.peakMbit, 0.8, 'the 80 Mbit/s second is older than the window');
    assert.equal(chart.points.at(-1)!.x, BOX.left + BOX.width);
    assert.ok(chart.points.every((p) => p.x >= BOX.left && p.x <= BOX.left + BOX.width));
  });
});

describe('the node and the sites it helps', () => {
  it('says what the node is doing for sites', () => {
    assert.equal(rescueStateWords(view({ state: 'off', settings: { enabled: false, donateMbit: 1, donateGbPerDay: 1, cacheMb: 10 } })), 'Off: this node helps no site.');
    assert.equal(rescueStateWords(view({ state: 'normal' })), 'On: ready to help when a site asks.');
    assert.equal(rescueStateWords(view({ state: 'rescue', sites: [site({}), site({ originId: 'b', state: 'ended' })] })), 'Rescuing 1 site now.');
    assert.equal(rescueStateWords(view({ state: 'rescue', sites: [site({}), site({ originId: 'b' })] })), 'Rescuing 2 sites now.');
  });

  it('says where the node is advertised', () => {
    assert.deepEqual(advertisedLines({ overlay: true, mdns: false }), ['Advertised in the overlay', 'Not advertised on this LAN (mDNS)']);
    assert.deepEqual(advertisedLines({ overlay: false, mdns: true }), ['Not yet advertised in the overlay', 'Advertised on this LAN (mDNS)']);
  });

  it('lists active sites first, then the most recent', () => {
    const a = site({ originId: 'a', state: 'ended', startedAt: T0 + 3 });
    const b = site({ originId: 'b', state: 'active', startedAt: T0 + 1 });
    const c = site({ originId: 'c', state: 'ended', startedAt: T0 + 5 });
    const d = site({ originId: 'd', state: 'active', startedAt: T0 + 2 });
    assert.deepEqual(
      sitesInOrder([a, b, c, d]).map((s) => s.originId),
      ['d', 'b', 'c', 'a'],
    );
  });

  it('words the allowed rate and when a rescue ran and why it ended', () => {
    assert.equal(allowedRateWords(1), '1 request/s allowed');
    assert.equal(allowedRateWords(12.345), '12 requests/s allowed');
    assert.equal(allowedRateWords(2500), '2,500 requests/s allowed');
    assert.equal(allowedRateWords(12, 40.4), '12 requests/s allowed (up to 40 when every helper is full)');
    assert.equal(allowedRateWords(120, 1500), '120 requests/s allowed (up to 1,500 when every helper is full)');
    assert.equal(allowedRateWords(12, 12), '12 requests/s allowed', 'no reserve, no second figure');
    const time = (ms: number) => `t${(ms - T0) / 1000}`;
    assert.equal(siteWhenWords(site({}), time), 'since t0');
    assert.equal(siteWhenWords(site({ state: 'ended', endedAt: T0 + 12_400, endReason: 'switched off by the volunteer' }), time), 't0, for 12 s: switched off by the volunteer');
    assert.equal(siteWhenWords(site({ state: 'ended', endedAt: T0 + 25 * 60_000, endReason: 'released by the site' }), time), 't0, for 25 min: released by the site');
    assert.equal(siteWhenWords(site({ state: 'ended', endedAt: T0 + 3 * 3600_000 }), time), 't0, for 3 h');
    assert.equal(siteWhenWords(site({ state: 'ended' }), time), 'from t0');
  });
});
