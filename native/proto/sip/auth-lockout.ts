// Brute-force protection for digest authentication: a source (an IP address) that fails
// `maxFailures` times within `windowMs` is refused for `lockMs`, whatever it sends. Bounded
// memory: the oldest sources are forgotten first.

export interface AuthLockoutOptions {
  maxFailures?: number;
  windowMs?: number;
  lockMs?: number;
  maxSources?: number;
  now: () => number;
}

interface SourceState {
  failures: number;
  firstAt: number;
  lockedUntil: number;
}

export class AuthLockout {
  private readonly sources = new Map<string, SourceState>();
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockMs: number;
  private readonly maxSources: number;

  constructor(private readonly options: AuthLockoutOptions) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.lockMs = options.lockMs ?? 300_000;
    this.maxSources = options.maxSources ?? 10_000;
  }

  /** Milliseconds the source stays locked out, or 0. */
  lockedFor(source: string): number {
    const state = this.sources.get(source);
    return state ? Math.max(0, state.lockedUntil - this.options.now()) : 0;
  }

  /** Counts a failure; true when it locks the source out (just now). */
  fail(source: string): boolean {
    const now = this.options.now();
    let state = this.sources.get(source);
    if (!state || now - state.firstAt > this.windowMs) {
      state = { failures: 0, firstAt: now, lockedUntil: state?.lockedUntil ?? 0 };
    }
    this.sources.delete(source);
    this.sources.set(source, state);
    if (this.sources.size > this.maxSources) this.sources.delete(this.sources.keys().next().value!);
    state.failures++;
    if (state.failures < this.maxFailures || state.lockedUntil > now) return false;
    state.lockedUntil = now + this.lockMs;
    state.failures = 0;
    state.firstAt = now;
    return true;
  }

  /** A success clears the source's count. */
  succeed(source: string): void {
    const state = this.sources.get(source);
    if (state && state.lockedUntil <= this.options.now()) this.sources.delete(source);
  }
}
