// The origin's load figure: how close it is to the first limit it would hit (egress bandwidth,
// CPU, or its upstream web server's latency), smoothed so one noisy second does not flip the
// Normal/SOS/Rescue state, yet quick enough to follow a flash crowd within a few seconds.
export interface LoadSample {
  /** Length of the interval sampled, ms (about 1000). */
  intervalMs: number;
  requests: number;
  egressBytes: number;
  /**
   * Bytes the requests that arrived in the interval will need: what egress would be if the link
   * kept up. Egress stops at the link's rate (the rest waits in queues), so past capacity only
   * this shows how far past it the load is.
   */
  demandBytes?: number;
  /** Mean upstream latency over the interval, ms (undefined when no upstream request). */
  upstreamLatencyMs?: number;
  /** Process CPU over the interval as a fraction of one core (0..n). */
  cpu: number;
}

export interface LoadFigure { load: number; egressLoad: number; demandLoad: number; cpuLoad: number; latencyLoad: number; requestsPerSecond: number; egressBytesPerSecond: number }

const ZERO: LoadFigure = { load: 0, egressLoad: 0, demandLoad: 0, cpuLoad: 0, latencyLoad: 0, requestsPerSecond: 0, egressBytesPerSecond: 0 };

function finiteOrZero(x: number | undefined): number {
  return x !== undefined && Number.isFinite(x) && x > 0 ? x : 0;
}

export class LoadMonitor {
  private readonly capacityBytesPerSecond: number;
  private readonly cpuHigh: number;
  private readonly latencyHighMs: number;
  private readonly alpha: number;
  private figure: LoadFigure = ZERO;
  private samples = 0;

  /** capacityBytesPerSecond: the configured egress capacity; cpuHigh default 0.9 (cpu/cpuHigh is the CPU load); latencyHighMs default 1000 (latency/latencyHighMs); alpha default 0.5 (EWMA weight of the newest sample). */
  constructor(options: { capacityBytesPerSecond: number; cpuHigh?: number; latencyHighMs?: number; alpha?: number }) {
    if (!(options.capacityBytesPerSecond > 0)) throw new RangeError('capacityBytesPerSecond must be positive');
    this.capacityBytesPerSecond = options.capacityBytesPerSecond;
    this.cpuHigh = options.cpuHigh ?? 0.9;
    this.latencyHighMs = options.latencyHighMs ?? 1000;
    this.alpha = options.alpha ?? 0.5;
    if (!(this.cpuHigh > 0) || !(this.latencyHighMs > 0)) throw new RangeError('cpuHigh and latencyHighMs must be positive');
    if (!(this.alpha > 0 && this.alpha <= 1)) throw new RangeError('alpha must be in (0, 1]');
  }

  /** Adds one sample; the load is the EWMA of max(egress/capacity, demand/capacity, cpu/cpuHigh, latency/latencyHigh), each component also EWMA'd for display. */
  add(sample: LoadSample): LoadFigure {
    // An empty or nonsensical interval carries no rate information.
    if (!(sample.intervalMs > 0) || !Number.isFinite(sample.intervalMs)) return this.figure;
    const seconds = sample.intervalMs / 1000;
    const egressBytesPerSecond = finiteOrZero(sample.egressBytes) / seconds;
    const requestsPerSecond = finiteOrZero(sample.requests) / seconds;
    const egressLoad = egressBytesPerSecond / this.capacityBytesPerSecond;
    const demandLoad = finiteOrZero(sample.demandBytes) / seconds / this.capacityBytesPerSecond;
    const cpuLoad = finiteOrZero(sample.cpu) / this.cpuHigh;
    // No upstream request in the interval says nothing is waiting on upstream: no latency load.
    const latencyLoad = finiteOrZero(sample.upstreamLatencyMs) / this.latencyHighMs;
    const raw: LoadFigure = {
      load: Math.max(egressLoad, demandLoad, cpuLoad, latencyLoad),
      egressLoad,
      demandLoad,
      cpuLoad,
      latencyLoad,
      requestsPerSecond,
      egressBytesPerSecond,
    };
    // The first sample seeds the averages, so a steady load reads right from the start.
    if (this.samples === 0) {
      this.figure = raw;
    } else {
      const a = this.alpha;
      const prev = this.figure;
      const mix = (k: keyof LoadFigure) => a * raw[k] + (1 - a) * prev[k];
      this.figure = {
        load: mix('load'),
        egressLoad: mix('egressLoad'),
        demandLoad: mix('demandLoad'),
        cpuLoad: mix('cpuLoad'),
        latencyLoad: mix('latencyLoad'),
        requestsPerSecond: mix('requestsPerSecond'),
        egressBytesPerSecond: mix('egressBytesPerSecond'),
      };
    }
    this.samples++;
    return this.figure;
  }

  get current(): LoadFigure {
    return this.figure;
  }
}
