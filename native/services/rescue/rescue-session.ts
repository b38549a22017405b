// One site this node rescues: what the origin's SOS said, what this node allowed, and what it
// served. The rescue server keeps one per origin ID; the proxy looks them up by the ID in the URL.
import type { SosMessage } from '../../wire/rescue/dsrp.js';
import type { RescueSiteView } from './rescue-view.js';

export class RescueSession {
  state: 'active' | 'ended' = 'active';
  allowedRps = 0;
  /** What this site's share of the donation carries at most, for when the origin's allowances are all spent. */
  maxRps = 0;
  requestsServed = 0;
  bytesServed = 0;
  cacheHits = 0;
  /** Since the last load report to the origin. */
  servedSinceReport = 0;
  hitsSinceReport = 0;
  /** Of servedSinceReport, the requests that came by the site's host name (DNS round robin). */
  byNameSinceReport = 0;
  /** The rescue server's count of refused Host names when this origin was last told of it. */
  refusedHostsReported?: number;
  /** Load reports the origin did not answer, in a row. */
  missedReports = 0;
  endedAt?: number;
  endReason?: string;
  /** Mean body bytes, from the SOS and then from what was served. */
  meanBytes: number;

  constructor(
    public sos: SosMessage,
    readonly startedAt: number,
  ) {
    this.meanBytes = sos.meanBytes;
  }

  get originId(): string {
    return this.sos.origin;
  }
  /** The origin's key: every response it serves us must carry its signature. */
  get originKey(): string {
    return this.sos.key;
  }

  /** The site's host names this node may be reached by (DNS round robin), lower-case. */
  get hosts(): string[] {
    return this.sos.hosts ?? [];
  }

  served(bytes: number, hit: boolean, byName = false): void {
    this.requestsServed++;
    this.servedSinceReport++;
    if (byName) this.byNameSinceReport++;
    this.bytesServed += bytes;
    if (hit) {
      this.cacheHits++;
      this.hitsSinceReport++;
    }
    // Once a few responses are known, the real mean replaces the origin's estimate.
    if (this.requestsServed >= 20) this.meanBytes = Math.max(1, this.bytesServed / this.requestsServed);
  }

  end(reason: string, now: number): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endedAt = now;
    this.endReason = reason;
  }

  view(): RescueSiteView {
    return {
      originId: this.originId,
      site: this.sos.site,
      state: this.state,
      allowedRps: this.allowedRps,
      ...(this.maxRps > this.allowedRps ? { maxRps: this.maxRps } : {}),
      requestsServed: this.requestsServed,
      bytesServed: this.bytesServed,
      cacheHits: this.cacheHits,
      startedAt: this.startedAt,
      ...(this.endedAt !== undefined ? { endedAt: this.endedAt } : {}),
      ...(this.endReason ? { endReason: this.endReason } : {}),
    };
  }
}
