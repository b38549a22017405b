// Trusted rescue, the origin's side (docs/rescue.md, "HTTPS sites" and "Dynamic content"). The
// site owner pins rescuers by key, each with a rescue host name of the site's domain
// (`--trusted-rescuer KEY=r1.rescue.example.org`). When one of them accepts an SOS, the origin
// issues it a certificate for that name over the TLS key its accept names, from the CA key the
// site holds, and sends it with the marked API paths in a signed `trust`; then it connects to the
// rescuer as a browser would (the site's CA as the only root) and sends users there only once
// that verifies. It checks again every few seconds and renews the certificate at two thirds of
// its life; a rescuer whose certificate expired, or does not verify, is refused, counted and
// shown. Purges go to every trusted rescuer with a sequence number; one that does not take a
// purge is dropped, since it would keep serving the old answer.
import type { Logger } from '../../log.js';
import { probeTlsCertificate, type TlsProbe } from '../../transport/http.js';
import { signDsrp, type AcceptMessage, type DsrpMessage, type LoadMessage, type PurgeMessage, type TrustMessage } from '../../wire/rescue/dsrp.js';
import { issueRescueCertificate } from '../../wire/rescue/rescue-certificate.js';
import type { TrustedRescuerView, TrustView } from '../rescue/index.js';
import { fingerprint } from './origin-rescuers.js';

export interface TrustOptions {
  /** Pinned rescuers: node key (base64url) -> rescue host name (undefined: a plain-HTTP site). */
  rescuers: Map<string, string | undefined>;
  /** The CA the site issues rescue certificates from (needed for HTTPS). */
  ca?: { certPem: string; keyPem: string };
  certValidityMs: number;
  /** Path prefixes of the marked API endpoints. */
  dynamic: string[];
  /** True when the site is served over HTTPS: its users go only to verified trusted rescuers. */
  https: boolean;
}

interface Trusted {
  key: string;
  host?: string;
  state: TrustedRescuerView['state'];
  reason?: string;
  /** https://HOST:PORT (the rescue host name) once verified, or the rescuer's http URL for a plain-HTTP site. */
  base?: string;
  tls?: AcceptMessage['tls'];
  http: string;
  issuedAt: number;
  notAfter?: number;
  lastProbe: number;
  purgeSeq: number;
  purgesRefused: number;
  busy: boolean;
}

/** How often a verified rescuer's certificate is checked again. */
const PROBE_EVERY_MS = 10_000;

export class OriginTrust {
  private readonly trusted = new Map<string, Trusted>();
  private seq = 0;
  private readonly counters = { certificatesIssued: 0, certificatesRefused: 0, expiredCertificates: 0, purgesSent: 0, purgesNotTaken: 0, purgesRefusedAtRescuers: 0 };

  constructor(
    private readonly config: TrustOptions,
    private readonly options: {
      originId: string;
      key: { raw: Buffer; privateKey: Buffer };
      send(key: string, message: DsrpMessage): Promise<number>;
      drop(key: string, reason: string): Promise<void>;
      onEvent(text: string): void;
      log: Logger;
      now(): number;
      probe?: typeof probeTlsCertificate;
    },
  ) {}

  get enabled(): boolean {
    return this.config.rescuers.size > 0;
  }

  /** Whether the site pinned this key. */
  pinned(key: string): boolean {
    return this.config.rescuers.has(key);
  }

  /** Whether `path` is under a marked API prefix (cached per query at trusted rescuers only). */
  marked(path: string): boolean {
    return this.config.dynamic.some((prefix) => path.startsWith(prefix));
  }

  /** The base URL to send a user to at this rescuer, when it is trusted and verified. */
  base(key: string): string | undefined {
    const t = this.trusted.get(key);
    return t && t.state === 'verified' ? t.base : undefined;
  }

  /** A rescuer accepted: if the site pinned its key, give it its certificate and marked paths. */
  accepted(accept: AcceptMessage): void {
    if (!this.config.rescuers.has(accept.key)) {
      // An HTTPS site has nothing for a volunteer it did not pin: its users go to pinned rescuers only.
      if (this.config.https) void this.options.drop(accept.key, 'not pinned: an HTTPS site is rescued only by rescuers it trusts');
      return;
    }
    const host = this.config.rescuers.get(accept.key);
    const t: Trusted = { key: accept.key, host, state: 'waiting', http: accept.http, tls: accept.tls, issuedAt: 0, lastProbe: 0, purgeSeq: 0, purgesRefused: this.trusted.get(accept.key)?.purgesRefused ?? 0, busy: false };
    this.trusted.set(accept.key, t);
    void this.establish(t);
  }

  load(report: LoadMessage): void {
    const t = this.trusted.get(report.key);
    if (!t) return;
    if (report.purgeSeq !== undefined) t.purgeSeq = report.purgeSeq;
    if (report.purgesRefused !== undefined && report.purgesRefused > t.purgesRefused) {
      this.counters.purgesRefusedAtRescuers += report.purgesRefused - t.purgesRefused;
      this.options.onEvent(`rescuer ${fingerprint(t.key)} refused ${report.purgesRefused - t.purgesRefused} forged or replayed purge(s) of this site`);
      t.purgesRefused = report.purgesRefused;
    }
  }

  retired(key: string): void {
    const t = this.trusted.get(key);
    if (t && (t.state === 'verified' || t.state === 'waiting')) t.state = 'ended';
  }

  /** Once a second: renew certificates at two thirds of their life, check each again every 10 s. */
  tick(): void {
    const now = this.options.now();
    for (const t of this.trusted.values()) {
      if (t.state !== 'verified' || t.busy || !t.host) continue;
      if (t.notAfter !== undefined && now >= t.issuedAt + ((t.notAfter - t.issuedAt) * 2) / 3) void this.establish(t);
      else if (now - t.lastProbe >= PROBE_EVERY_MS) void this.verify(t);
    }
  }

  /**
   * Purges `prefixes` at every trusted rescuer. Resolves once each answered; one that did not take
   * it is dropped (released): it might serve the old answer until its entry runs out.
   */
  async purge(prefixes: string[]): Promise<{ sent: number; dropped: number }> {
    const targets = [...this.trusted.values()].filter((t) => t.state === 'verified');
    if (!targets.length || !prefixes.length) return { sent: 0, dropped: 0 };
    // Milliseconds-based, so an origin restarted within the same rescue still counts upwards.
    this.seq = Math.max(this.seq + 1, this.options.now());
    const message = signDsrp<PurgeMessage>({ type: 'purge', origin: this.options.originId, at: this.options.now(), seq: this.seq, prefixes } as never, this.options.key.raw, this.options.key.privateKey);
    this.counters.purgesSent++;
    let dropped = 0;
    await Promise.all(
      targets.map(async (t) => {
        const status = await this.options.send(t.key, message);
        if (status === 200) return;
        dropped++;
        this.counters.purgesNotTaken++;
        this.refuse(t, `it did not take a purge (${status || 'no answer'})`);
      }),
    );
    return { sent: targets.length, dropped };
  }

  view(): TrustView {
    return {
      https: this.config.https,
      dynamic: [...this.config.dynamic],
      pinned: [...this.config.rescuers].map(([key, host]) => ({ id: fingerprint(key), ...(host ? { host } : {}) })),
      rescuers: [...this.trusted.values()].map((t) => ({
        id: fingerprint(t.key),
        ...(t.host ? { host: t.host } : {}),
        state: t.state,
        ...(t.base ? { url: t.base } : {}),
        ...(t.notAfter !== undefined ? { certificateNotAfter: t.notAfter } : {}),
        purgeSeq: t.purgeSeq,
        purgesRefused: t.purgesRefused,
        ...(t.reason ? { reason: t.reason } : {}),
      })),
      totals: { ...this.counters, lastPurgeSeq: this.seq },
    };
  }

  private async establish(t: Trusted): Promise<void> {
    t.busy = true;
    try {
      let chain: string[] | undefined;
      if (t.host) {
        if (!this.config.ca) return this.refuse(t, 'the site has no CA key to issue its certificate from (--rescue-ca-key)');
        if (!t.tls) return this.refuse(t, 'it serves no HTTPS (its accept named no TLS key)');
        const now = this.options.now();
        const notAfter = now + this.config.certValidityMs;
        try {
          // A minute back: a rescuer whose clock is a little behind still finds it valid.
          chain = [await issueRescueCertificate({ ca: this.config.ca, host: t.host, spki: t.tls.spki, notBefore: now - 60_000, notAfter })];
        } catch (error) {
          return this.refuse(t, `could not issue its certificate: ${(error as Error).message}`);
        }
        this.counters.certificatesIssued++;
        t.issuedAt = now;
        t.notAfter = notAfter;
      }
      const message = signDsrp<TrustMessage>(
        { type: 'trust', origin: this.options.originId, at: this.options.now(), ...(t.host ? { host: t.host, chain } : {}), dynamic: this.config.dynamic } as never,
        this.options.key.raw,
        this.options.key.privateKey,
      );
      const status = await this.options.send(t.key, message);
      if (t.state === 'ended' || t.state === 'refused') return;
      if (status !== 200) return this.refuse(t, `it did not take the trust message (${status || 'no answer'})`);
      if (!t.host) {
        t.base = t.http;
        this.markVerified(t, 'trusted for marked API paths');
        return;
      }
      await this.verify(t);
    } finally {
      t.busy = false;
    }
  }

  /** Connects as a browser would and checks the certificate the rescuer serves under its name. */
  private async verify(t: Trusted): Promise<void> {
    if (!t.tls || !t.host || !this.config.ca) return;
    t.lastProbe = this.options.now();
    const https = new URL(t.tls.https);
    let result: TlsProbe;
    try {
      result = await (this.options.probe ?? probeTlsCertificate)({ address: https.hostname.replace(/^\[|\]$/g, ''), port: Number(https.port || 443), serverName: t.host, caPem: this.config.ca.certPem, timeoutMs: 5_000 });
    } catch (error) {
      result = { ok: false, code: 'PROBE_FAILED', message: String(error) };
    }
    if (t.state === 'ended' || t.state === 'refused') return;
    if (!result.ok) {
      if (result.code === 'CERT_HAS_EXPIRED') this.counters.expiredCertificates++;
      this.counters.certificatesRefused++;
      return this.refuse(t, `its certificate for ${t.host}: ${result.message}`);
    }
    t.base = `https://${t.host}:${https.port || 443}`;
    if (t.state !== 'verified') this.markVerified(t, `serves ${t.base} with the site's certificate, valid until ${new Date(result.notAfter).toISOString()}`);
  }

  private markVerified(t: Trusted, text: string): void {
    t.state = 'verified';
    t.reason = undefined;
    this.options.onEvent(`trusted rescuer ${fingerprint(t.key)} ${text}`);
  }

  private refuse(t: Trusted, reason: string): void {
    if (t.state === 'refused') return;
    t.state = 'refused';
    t.reason = reason;
    t.base = undefined;
    this.options.onEvent(`trusted rescuer ${fingerprint(t.key)} refused: ${reason}`);
    void this.options.drop(t.key, `trusted rescue refused: ${reason}`);
  }
}
