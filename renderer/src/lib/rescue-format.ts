// Words, numbers and the chart of the Rescue screen ("help rescue sites", the DotSlash volunteer
// side): byte and bandwidth units, the donation form and its limits, the served-bandwidth chart's
// geometry, and how a helped site reads. Pure, so the unit tests check what the screen shows.
import type { RescueDonation, RescueSample, RescueSiteView, RescueView } from './control-types.js';

// Decimal units throughout, as the settings are given (a GB a day is 1e9 bytes, an MB of cache 1e6).
const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;
export const BYTES_PER_MB = 1e6;
export const BYTES_PER_GB = 1e9;

/** Counts as people read them: 1,234. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Three significant digits at most, without trailing zeros: 1.5 GB, 120 MB, 812 B. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  let unit = 0;
  let value = bytes;
  while (value >= 999.5 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 1000 ? formatCount(value) : Number(value.toPrecision(3))} ${BYTE_UNITS[unit]}`;
}

/** Bandwidth of one one-second sample: its bytes in megabits. */
export function sampleMbit(sample: RescueSample): number {
  return (sample.bytes * 8) / 1e6;
}

/** The number part of a bandwidth: 0, 0.42, 4.8, 12.5, 1,250. */
export function mbitNumber(mbit: number): string {
  if (!Number.isFinite(mbit) || mbit <= 0) return '0';
  if (mbit < 1) return String(Number(mbit.toPrecision(2)));
  if (mbit < 100) return String(Number(mbit.toFixed(1)));
  return formatCount(mbit);
}

/** 0 Mbit/s, 0.42 Mbit/s, 4.8 Mbit/s, 12.5 Mbit/s, 1,250 Mbit/s. */
export function formatMbit(mbit: number): string {
  return `${mbitNumber(mbit)} Mbit/s`;
}

/** A ratio in [0, 1] as a whole percentage that never rounds a little to nothing or almost all to all. */
export function formatPercent(ratio: number): string {
  const r = Math.min(1, Math.max(0, Number.isFinite(ratio) ? ratio : 0));
  const whole = Math.round(r * 100);
  if (whole === 0 && r > 0) return '<1%';
  if (whole === 100 && r < 1) return '>99%';
  return `${whole}%`;
}

/** "1.2 GB of 10 GB" and how full, in [0, 1], for a meter. */
export function usageOf(usedBytes: number, capBytes: number): { text: string; fraction: number } {
  const fraction = capBytes > 0 ? Math.min(1, Math.max(0, usedBytes / capBytes)) : 0;
  return { text: `${formatBytes(usedBytes)} of ${formatBytes(capBytes)}`, fraction };
}

// --- What to give: the settings form ---------------------------------------------------------

export type DonationField = keyof RescueDonation;
export const DONATION_FIELDS: readonly DonationField[] = ['donateMbit', 'donateGbPerDay', 'cacheMb'];

export const DONATION_LIMITS: Record<DonationField, { min: number; max: number; unit: string; label: string; words: string }> = {
  donateMbit: { min: 0.1, max: 10_000, unit: 'Mbit/s', label: 'Upload to give (Mbit/s)', words: 'The upload to give' },
  donateGbPerDay: { min: 0.1, max: 100_000, unit: 'GB', label: 'Daily volume (GB)', words: 'The daily volume' },
  cacheMb: { min: 10, max: 1_000_000, unit: 'MB', label: 'Disk for the cache (MB)', words: 'The disk for the cache' },
};

/** The form's fields as typed. */
export type DonationForm = Record<DonationField, string>;

export function donationForm(donation: RescueDonation): DonationForm {
  return { donateMbit: String(donation.donateMbit), donateGbPerDay: String(donation.donateGbPerDay), cacheMb: String(donation.cacheMb) };
}

export type DonationParse = { ok: true; value: RescueDonation } | { ok: false; field: DonationField; message: string };

/** The donation form's fields with their ranges, as NumberFieldsForm takes them. */
export const DONATION_FORM_FIELDS = DONATION_FIELDS.map((key) => {
  const { min, max, label } = DONATION_LIMITS[key];
  return { key, label, hint: `${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}` };
});

/** The donation the form says, or which field is wrong and a sentence saying how. */
export function donationFromForm(form: DonationForm): DonationParse {
  const donation = {} as RescueDonation;
  for (const field of DONATION_FIELDS) {
    const { min, max, unit, words } = DONATION_LIMITS[field];
    const text = form[field].trim();
    const n = text === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n) || n < min || n > max) {
      return { ok: false, field, message: `${words} must be a number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')} ${unit}.` };
    }
    donation[field] = n;
  }
  return { ok: true, value: donation };
}

// --- The served-bandwidth chart --------------------------------------------------------------

export const CHART_WINDOW_SECONDS = 120;
/** A gap longer than this between one-second samples means nothing was served in between. */
const GAP_MS = 1_500;
/** The last sample counts as "now" only while it is this fresh. */
const CURRENT_MS = 2_500;

export interface PlotBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface BandwidthChart {
  /** SVG path data of the line, '' when there is nothing to draw. */
  line: string;
  /** The line closed down to the axis, for the shaded area; '' when there is nothing to draw. */
  area: string;
  /** The value at the top of the y axis: the smallest of 1, 2, 5 x 10^k at or above the peak. */
  scaleMbit: number;
  peakMbit: number;
  /** The last second's bandwidth, or 0 when the last sample is not fresh. */
  currentMbit: number;
  /** Where the peak's guide line goes. */
  peakY: number;
  /** Gridlines and their values: the axis, half the scale, the scale. */
  ticks: Array<{ y: number; mbit: number }>;
  /** The plotted points (zeros inserted for gaps), oldest first. */
  points: Array<{ x: number; y: number; mbit: number; at: number }>;
}

/** The smallest of 1, 2, 5 x 10^k at or above `peak` (1 when nothing was served). */
export function niceScale(peak: number): number {
  if (!(peak > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(peak));
  for (const step of [1, 2, 5, 10]) {
    const scale = Number((step * power).toPrecision(12));
    if (scale >= peak) return scale;
  }
  return 10 * power;
}

const r1 = (n: number) => Math.round(n * 10) / 10;

/**
 * The chart of the last `windowSeconds` ending at `now` (or at the newest sample, if the engine's
 * clock is a little ahead): seconds without a sample count as nothing served.
 */
export function bandwidthChart(samples: RescueSample[], now: number, box: PlotBox, windowSeconds = CHART_WINDOW_SECONDS): BandwidthChart {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  const end = Math.max(now, sorted.at(-1)?.at ?? now);
  const start = end - windowSeconds * 1000;
  const shown = sorted.filter((s) => s.at > start);
  const peakMbit = shown.reduce((peak, s) => Math.max(peak, sampleMbit(s)), 0);
  const last = shown.at(-1);
  const currentMbit = last && end - last.at <= CURRENT_MS ? sampleMbit(last) : 0;
  const scaleMbit = niceScale(peakMbit);
  const bottom = box.top + box.height;
  const x = (at: number) => r1(box.left + ((Math.max(at, start) - start) / (end - start)) * box.width);
  const y = (mbit: number) => r1(bottom - (mbit / scaleMbit) * box.height);

  const series: Array<{ at: number; mbit: number }> = [];
  let previous: RescueSample | undefined;
  for (const sample of shown) {
    const gapFrom = previous ? previous.at : start;
    if (sample.at - gapFrom > GAP_MS) {
      if (previous) series.push({ at: previous.at + 1000, mbit: 0 });
      series.push({ at: Math.max(start, sample.at - 1000), mbit: 0 });
    }
    series.push({ at: sample.at, mbit: sampleMbit(sample) });
    previous = sample;
  }
  if (previous && end - previous.at > GAP_MS) series.push({ at: previous.at + 1000, mbit: 0 }, { at: end, mbit: 0 });

  const points = series.map((p) => ({ x: x(p.at), y: y(p.mbit), mbit: p.mbit, at: p.at }));
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' ');
  const area = points.length ? `${line} L ${points.at(-1)!.x} ${bottom} L ${points[0].x} ${bottom} Z` : '';
  return {
    line,
    area,
    scaleMbit,
    peakMbit,
    currentMbit,
    peakY: y(peakMbit),
    ticks: [0, scaleMbit / 2, scaleMbit].map((mbit) => ({ y: y(mbit), mbit })),
    points,
  };
}

// --- The node and the sites it helps --------------------------------------------------------

/** One line on what this node is doing for sites now. */
export function rescueStateWords(view: RescueView): string {
  if (view.state === 'off' || !view.settings.enabled) return 'Off: this node helps no site.';
  const active = view.sites.filter((s) => s.state === 'active').length;
  if (view.state === 'rescue' && active > 0) return `Rescuing ${active} site${active === 1 ? '' : 's'} now.`;
  return 'On: ready to help when a site asks.';
}

/** Whether other nodes can find this one, as two lines: the overlay, and the LAN (mDNS). */
export function advertisedLines(advertised: RescueView['advertised']): string[] {
  return [
    advertised.overlay ? 'Advertised in the overlay' : 'Not yet advertised in the overlay',
    advertised.mdns ? 'Advertised on this LAN (mDNS)' : 'Not advertised on this LAN (mDNS)',
  ];
}

/** Active sites first, then the most recently started. */
export function sitesInOrder(sites: RescueSiteView[]): RescueSiteView[] {
  return [...sites].sort((a, b) => (a.state === b.state ? b.startedAt - a.startedAt : a.state === 'active' ? -1 : 1));
}

export function allowedRateWords(rps: number, maxRps?: number): string {
  const rate = (r: number) => (r >= 100 ? formatCount(r) : String(Number(r.toPrecision(2))));
  const allowed = `${rate(rps)} request${rps === 1 ? '' : 's'}/s allowed`;
  // The reserve: what the donation carries past the allowance, used only when every helper's allowance is spent.
  return maxRps !== undefined && maxRps > rps ? `${allowed} (up to ${rate(maxRps)} when every helper is full)` : allowed;
}

/** How long something lasted, roughly: "12 s", "25 min", "3 h". */
export function durationWords(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  return `${Math.round(minutes / 60)} h`;
}

/** When the rescue ran, and why it ended: "since 14:02", "14:02, for 25 min: released by the site". */
export function siteWhenWords(site: RescueSiteView, timeOf: (ms: number) => string): string {
  if (site.state === 'active') return `since ${timeOf(site.startedAt)}`;
  const span = site.endedAt !== undefined ? `${timeOf(site.startedAt)}, for ${durationWords(site.endedAt - site.startedAt)}` : `from ${timeOf(site.startedAt)}`;
  return `${span}${site.endReason ? `: ${site.endReason}` : ''}`;
}
