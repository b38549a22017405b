// Trusted rescue, the rescuer's side (docs/rescue.md, "HTTPS sites" and "Dynamic content"). A
// site that trusts this node (it pinned this node's key) sends, after the accept, a `trust`
// message: a certificate for a rescue host name of its domain, issued over this node's own TLS
// key, and the path prefixes of its marked API endpoints. This node then serves the site's users
// over HTTPS under that name (never under the site's own name: it never holds the site's key),
// and keeps those endpoints' responses per query until the site purges them with a signed,
// sequence-numbered `purge`. Forged and replayed purges are refused and counted, and the count
// goes back to the site in every load report.
import { createSecureContext, type SecureContext } from 'node:tls';
import { certificatePem, checkRescueCertificate, makeRescueTlsKey, type RescueTlsKey } from '../../wire/rescue/rescue-certificate.js';
import type { AcceptTls, PurgeMessage, TrustMessage } from '../../wire/rescue/dsrp.js';
import type { RescueSession } from './rescue-session.js';

interface TrustedSite {
  originId: string;
  originKey: string;
  /** Absent for a plain-HTTP site (dynamic paths only). */
  host?: string;
  notAfter: number;
  context?: SecureContext;
  dynamic: string[];
  /** The last purge applied (0: none yet). */
  purgeSeq: number;
  /** Moves on with every purge: a fetch begun before one whose prefixes cover its path does not store what it got. */
  generation: number;
  /** The recent purges' prefixes by generation (the last PURGE_LOG of them). */
  purges: Array<{ generation: number; prefixes: string[] }>;
}

/** Purges remembered for fetches under way; a fetch older than all of them counts as overtaken. */
const PURGE_LOG = 256;

export type TrustAnswer = { status: 200 } | { status: 400 | 403 | 481; reason: string };

export class RescueTrust {
  readonly tlsKey: RescueTlsKey = makeRescueTlsKey();
  private readonly sites = new Map<string, TrustedSite>();
  private readonly byHost = new Map<string, TrustedSite>();
  /** Purges refused per origin ID (forged, replayed, or for a site that does not trust this node). */
  private readonly refused = new Map<string, number>();
  /** The last purge applied per origin, kept after its rescue ends: an old purge stays a replay. */
  private readonly lastSeq = new Map<string, number>();
  readonly counters = { purgesApplied: 0, purgesRefused: 0 };

  constructor(private readonly options: { purge(originId: string, prefixes: string[]): Promise<number>; now(): number }) {}

  /** What an accept carries when this node serves HTTPS at `httpsUrl`. */
  acceptTls(httpsUrl: string | undefined): AcceptTls | undefined {
    return httpsUrl ? { spki: this.tlsKey.spki, https: httpsUrl } : undefined;
  }

  /** A `trust` from the origin of `session` (its signature already checked against the key the origin ID names). */
  onTrust(message: TrustMessage, session: RescueSession | undefined): TrustAnswer {
    if (!session || session.state !== 'active' || session.originKey !== message.key) return { status: 481, reason: 'No such rescue' };
    let context: SecureContext | undefined;
    let notAfter = Infinity;
    if (message.host && message.chain) {
      const taken = this.byHost.get(message.host);
      if (taken && taken.originId !== message.origin) return { status: 403, reason: `${message.host} is another site's rescue host name` };
      const check = checkRescueCertificate(message.chain[0], { host: message.host, spki: this.tlsKey.spki, now: this.options.now() });
      if (!check.ok) return { status: 400, reason: `certificate refused: ${check.reason}` };
      notAfter = check.notAfter;
      try {
        context = createSecureContext({ key: this.tlsKey.keyPem, cert: message.chain.map(certificatePem).join('') });
      } catch (error) {
        return { status: 400, reason: `certificate refused: ${(error as Error).message}` };
      }
    }
    const before = this.sites.get(message.origin);
    if (before?.host && before.host !== message.host) this.byHost.delete(before.host);
    const site: TrustedSite = {
      originId: message.origin,
      originKey: message.key,
      host: message.host,
      notAfter,
      context,
      dynamic: [...message.dynamic],
      purgeSeq: before?.purgeSeq ?? this.lastSeq.get(message.origin) ?? 0,
      generation: before?.generation ?? 0,
      purges: before?.purges ?? [],
    };
    this.sites.set(message.origin, site);
    if (site.host) this.byHost.set(site.host, site);
    return { status: 200 };
  }

  /** A verified `purge`: applied once, in order; a replay (a sequence number not above the last) is refused. */
  async onPurge(message: PurgeMessage): Promise<TrustAnswer> {
    const site = this.sites.get(message.origin);
    if (!site || site.originKey !== message.key) {
      this.countRefused(message.origin);
      return { status: 403, reason: 'Forbidden (this node holds no trusted rescue of that site)' };
    }
    if (message.seq <= site.purgeSeq) {
      this.countRefused(message.origin);
      return { status: 400, reason: `Bad Request (replayed purge: sequence ${message.seq} is not above ${site.purgeSeq})` };
    }
    site.purgeSeq = message.seq;
    site.generation++;
    site.purges.push({ generation: site.generation, prefixes: [...message.prefixes] });
    if (site.purges.length > PURGE_LOG) site.purges.shift();
    this.counters.purgesApplied++;
    await this.options.purge(message.origin, message.prefixes);
    return { status: 200 };
  }

  /** A DSRP body that claimed to be a purge of `originId` and failed its checks (bad signature, wrong key, stale). */
  countRefused(originId: string | undefined): void {
    this.counters.purgesRefused++;
    if (originId && /^[0-9a-f]{16}$/.test(originId)) this.refused.set(originId, (this.refused.get(originId) ?? 0) + 1);
    if (this.refused.size > 1_000) this.refused.delete(this.refused.keys().next().value!);
  }

  /** What the load report to `originId` carries. */
  report(originId: string): { purgeSeq?: number; purgesRefused?: number } {
    const site = this.sites.get(originId);
    const refused = this.refused.get(originId);
    return { ...(site ? { purgeSeq: site.purgeSeq } : {}), ...(refused ? { purgesRefused: refused } : {}) };
  }

  /** The TLS context for a name this node was given (SNI), while its certificate is valid. */
  context(serverName: string): SecureContext | undefined {
    const site = this.byHost.get(serverName);
    return site && this.options.now() <= site.notAfter ? site.context : undefined;
  }

  /** The origin a rescue host name was given by. */
  originOfHost(serverName: string | undefined): string | undefined {
    return serverName ? this.byHost.get(serverName.toLowerCase())?.originId : undefined;
  }

  isTrusted(originId: string): boolean {
    return this.sites.has(originId);
  }

  marked(session: RescueSession, path: string): boolean {
    const site = this.sites.get(session.originId);
    return Boolean(site && site.originKey === session.originKey && site.dynamic.some((prefix) => path.startsWith(prefix)));
  }

  generation(originId: string): number {
    return this.sites.get(originId)?.generation ?? 0;
  }

  /** Whether a purge since `generation` covered `path` (a fetch begun then must not store its answer). */
  purgedSince(originId: string, generation: number, path: string): boolean {
    const site = this.sites.get(originId);
    if (!site) return true;
    if (site.generation === generation) return false;
    const oldest = site.purges[0]?.generation ?? Infinity;
    if (oldest > generation + 1) return true; // older than what is remembered
    return site.purges.some((p) => p.generation > generation && p.prefixes.some((prefix) => path.startsWith(prefix)));
  }

  /** The rescue is over: the name and the marked paths go with it. */
  end(originId: string): void {
    const site = this.sites.get(originId);
    if (!site) return;
    this.sites.delete(originId);
    this.lastSeq.set(originId, site.purgeSeq);
    if (site.host && this.byHost.get(site.host) === site) this.byHost.delete(site.host);
  }
}
