// The origin's control rule (DotSlash, Zhao and Schulzrinne): keep the origin's load inside a
// band [low, high] by redirecting each redirectable request with probability p, ask for more
// rescue servers when p cannot grow within the rates they allow, and release them when the
// load stays below the band. Pure: the origin service calls tick() once a second (and when a
// rescuer's grant changes) and carries out what it returns.
//
// The rule, with L the smoothed load, T = (low + high) / 2 and p the current probability:
// - Normal -> SOS when L > high.
// - In SOS, the load the origin would carry without redirection is about L0 = L / (1 - p)
//   (a redirect costs a few hundred bytes against a whole response), so the p that brings the
//   load to T is p* = 1 - T (1 - p) / L. p moves to p* only when L leaves the band (inside it p
//   stays, so the loop does not chase noise); it may rise at once but falls by at most
//   `maxDecrease` a tick, because a fall returns load to the origin, which is what hurts.
// - p is capped by what the rescuers carry at most: sum(maxRps) / redirectable requests per
//   second, and by maxProbability (maxRps is past what they allow, and used only when every
//   allowance is spent: better a rescuer's link at 95% than the origin's, already past its band,
//   at 100%). When p* is above that cap, or the redirects use more than 80% of what the rescuers
//   allow (a rescuer run at its allowance queues), more rescuers are asked for.
// - A rescuer whose allowance has not been needed while L stayed below low for `releaseAfterMs`
//   is released; when L has stayed below low with p at 0 for `releaseAfterMs`, every rescuer is
//   released and the origin returns to Normal.

export interface ControllerConfig {
  low: number;
  high: number;
  /** The origin still serves a share itself: redirects, and whatever a rescuer cannot take. */
  maxProbability: number;
  /** Largest fall of p in one tick. */
  maxDecrease: number;
  releaseAfterMs: number;
  /** Rescuers asked for at once when more are needed, at most. */
  askBatch: number;
  /** How long to wait for answers before asking again. */
  askCooldownMs: number;
  /** More rescuers are asked once the redirects use this share of what they allow (a rescuer run at its allowance queues, and its users wait). */
  rescuerBusyShare: number;
}

export const DEFAULT_CONTROLLER_CONFIG: ControllerConfig = {
  low: 0.6,
  high: 0.8,
  maxProbability: 0.98,
  maxDecrease: 0.1,
  releaseAfterMs: 10_000,
  askBatch: 5,
  askCooldownMs: 1_000,
  rescuerBusyShare: 0.8,
};

export interface ControlInput {
  now: number;
  /** Smoothed load in [0, 1+]. */
  load: number;
  /**
   * The load redirects act on, when it is not `load`: with DNS round robin, `load` counts the
   * users who reached rescuers by the site's name (so the origin stays in SOS and keeps its
   * rescuers), but redirecting the origin's own users does nothing about those.
   */
  ownLoad?: number;
  /** Requests per second the origin could redirect (GET/HEAD of resources known cacheable). */
  redirectableRps: number;
  /** The rescuers serving now, with the rate each allows and the most it carries (absent: allowedRps). */
  rescuers: ReadonlyArray<{ id: string; allowedRps: number; maxRps?: number }>;
  /** Rescuers asked and not yet answered. */
  pending: number;
}

export interface ControlDecision {
  state: 'normal' | 'sos';
  probability: number;
  /** How many more rescuers to ask now (0 when enough are serving or being asked). */
  ask: number;
  /** Rescuers to release now. */
  release: string[];
  /** What changed, in words, for the origin's log (empty when nothing did). */
  changes: string[];
}

export class RedirectController {
  readonly config: ControllerConfig;
  private state: 'normal' | 'sos' = 'normal';
  private p = 0;
  private lastAsk = -Infinity;
  /** Since when the load has been below the band with p at 0 (undefined while it is not). */
  private calmSince?: number;
  /** Per rescuer: since when its allowance has been spare (the others could carry the redirects). */
  private readonly spareSince = new Map<string, number>();

  constructor(config: Partial<ControllerConfig> = {}) {
    this.config = { ...DEFAULT_CONTROLLER_CONFIG, ...config };
    if (!(this.config.low > 0 && this.config.low < this.config.high)) throw new RangeError('the load band needs 0 < low < high');
  }

  get probability(): number {
    return this.p;
  }
  get current(): 'normal' | 'sos' {
    return this.state;
  }

  tick(input: ControlInput): ControlDecision {
    const { low, high } = this.config;
    const changes: string[] = [];
    if (this.state === 'normal') {
      if (input.load <= high) return { state: 'normal', probability: 0, ask: 0, release: [], changes };
      this.state = 'sos';
      this.calmSince = undefined;
      changes.push(`load ${input.load.toFixed(2)} above ${high}: SOS`);
    }

    const allowed = input.rescuers.reduce((sum, r) => sum + r.allowedRps, 0);
    const most = input.rescuers.reduce((sum, r) => sum + Math.max(r.allowedRps, r.maxRps ?? 0), 0);
    const cap = Math.min(this.config.maxProbability, input.redirectableRps > 0 ? most / input.redirectableRps : most > 0 ? this.config.maxProbability : 0);
    const wanted = this.wantedProbability(input.ownLoad ?? input.load);
    // Whether to ask for more rescuers follows the whole load: with DNS round robin the users who
    // reach rescuers by name fill them too, while the origin's own load can sit in its band.
    const wantedByAll = input.ownLoad === undefined ? wanted : this.wantedProbability(input.load);
    const before = this.p;
    let next = wanted === undefined ? this.p : wanted;
    if (next < this.p) next = Math.max(next, this.p - this.config.maxDecrease);
    this.p = clamp(Math.min(next, cap), 0, this.config.maxProbability);
    if (Math.abs(this.p - before) >= 0.01) changes.push(`redirect probability ${before.toFixed(2)} -> ${this.p.toFixed(2)}`);

    // More rescuers: the rule wants more than their allowances carry, or the redirects already
    // use most of what they allow.
    let ask = 0;
    const demand = this.p * input.redirectableRps;
    const capped = wantedByAll !== undefined && wantedByAll > cap + 0.01 && cap < this.config.maxProbability;
    const busy = allowed > 0 && demand > this.config.rescuerBusyShare * allowed;
    if ((capped || busy) && input.now - this.lastAsk >= this.config.askCooldownMs) {
      const perRescuer = input.rescuers.length ? allowed / input.rescuers.length : 0;
      const missingRps = Math.max((wantedByAll ?? this.p) * input.redirectableRps, demand) / this.config.rescuerBusyShare - allowed;
      const estimate = perRescuer > 0 ? Math.ceil(missingRps / perRescuer) : this.config.askBatch;
      ask = clamp(estimate - input.pending, 0, this.config.askBatch);
      if (input.pending === 0) ask = Math.max(ask, 1);
      if (ask > 0) {
        this.lastAsk = input.now;
        changes.push(`asking ${ask} more rescuer${ask === 1 ? '' : 's'}`);
      }
    }

    if (this.calmFor(input) >= this.config.releaseAfterMs) {
      changes.push(`load ${input.load.toFixed(2)} below ${low} for ${Math.round(this.config.releaseAfterMs / 1000)} s: back to normal`);
      this.state = 'normal';
      this.p = 0;
      this.spareSince.clear();
      this.calmSince = undefined;
      return { state: 'normal', probability: 0, ask: 0, release: input.rescuers.map((r) => r.id), changes };
    }
    const release = this.releases(input, allowed);
    return { state: 'sos', probability: this.p, ask, release, changes };
  }

  /** A rescuer that stopped serving (shut down, dropped, released) no longer counts as spare. */
  forget(id: string): void {
    this.spareSince.delete(id);
  }

  private wantedProbability(load: number): number | undefined {
    const { low, high } = this.config;
    if (load >= low && load <= high) return undefined;
    if (load <= 0) return 0;
    const target = (low + high) / 2;
    return clamp(1 - (target * (1 - this.p)) / load, 0, this.config.maxProbability);
  }

  private calmFor(input: ControlInput): number {
    if (input.load < this.config.low && this.p === 0) {
      this.calmSince ??= input.now;
      return input.now - this.calmSince;
    }
    this.calmSince = undefined;
    return 0;
  }

  /**
   * Rescuers whose allowance the redirects have not needed for releaseAfterMs while the load was
   * below the band: the smallest go first, while the others still carry p * redirectable with a
   * 20% margin. When p is 0, none of them is needed. Within the band none is released: a load
   * that is rising again would have to ask (and warm the caches of) new ones.
   */
  private releases(input: ControlInput, allowed: number): string[] {
    if (input.load >= this.config.low) {
      this.spareSince.clear();
      return [];
    }
    const needed = this.p * input.redirectableRps * 1.2;
    const live = new Set(input.rescuers.map((r) => r.id));
    for (const id of this.spareSince.keys()) if (!live.has(id)) this.spareSince.delete(id);
    const release: string[] = [];
    let remaining = allowed;
    const bySmallest = [...input.rescuers].sort((a, b) => a.allowedRps - b.allowedRps);
    for (const r of bySmallest) {
      const spare = this.p === 0 || remaining - r.allowedRps >= needed;
      if (!spare) {
        this.spareSince.delete(r.id);
        continue;
      }
      const since = this.spareSince.get(r.id) ?? input.now;
      this.spareSince.set(r.id, since);
      if (input.now - since >= this.config.releaseAfterMs) {
        release.push(r.id);
        remaining -= r.allowedRps;
        this.spareSince.delete(r.id);
      }
    }
    return release;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
