// A client's side of being carried by a member (RFC 5626 outbound, reduced): it measures the
// round trip to a few members, registers with the nearest that accepts it, publishes the flow
// URI the member gives back as its contact, and checks the member with STUN on the SIP socket
// (which also keeps the NAT binding open). When the member stops answering, or our public
// mapping changes, it attaches again, to another member if need be.
import type { Logger } from '../../log.js';
import type { StunClient } from '../../proto/nat/stun-client.js';
import type { TimerHandle, TimerHost } from '../../proto/sip/timers.js';
import type { TransportAddress } from '../../wire/stun/message.js';
import { parseSipUri, type SipUri } from '../../wire/sip/uri.js';
import type { SipStack } from '../sip/index.js';
import type { AttachmentView } from './nat-view.js';

export interface MemberAttachmentOptions {
  stack: SipStack;
  /** The STUN client on the SIP socket (the NAT service's). */
  stun: () => StunClient;
  /** STUN over TCP from the SIP port, for a network that drops UDP. */
  stunTcp: () => StunClient;
  timers: TimerHost;
  log: Logger;
  now?: () => number;
  user(): string | undefined;
  /** Members to try, in the order we know them. */
  candidates(): TransportAddress[];
  /** Told when the member or the contact changes: the overlay binding is stored again. */
  onAttached(member: TransportAddress | undefined, contact: string | undefined): void;
  onChange(): void;
  /** How often the member is checked (and the NAT binding refreshed), ms. */
  keepaliveMs?: number;
}


/** A dead member is noticed within one interval and one STUN transaction (1.75 s). */
export const DEFAULT_KEEPALIVE_MS = 5_000;
const REGISTER_EXPIRES_S = 300;
const RETRY_MS = 2_000;

export class MemberAttachment {
  private readonly now: () => number;
  private member?: TransportAddress;
  private mapped?: TransportAddress;
  private rttMs?: number;
  private contact?: string;
  private state: AttachmentView['state'] = 'detached';
  private reason?: string;
  private since?: number;
  private timer?: TimerHandle;
  private attaching?: Promise<void>;
  private stopped = false;
  private lastRegister = 0;
  private failedMember?: TransportAddress;
  /** Attached over TCP (UDP does not get through). */
  private tcp = false;

  constructor(private readonly options: MemberAttachmentOptions) {
    this.now = options.now ?? Date.now;
  }

  get keepaliveMs(): number {
    return this.options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
  }

  start(): void {
    this.stopped = false;
    void this.attach();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.timers.clear(this.timer);
    await this.attaching?.catch(() => undefined);
    const member = this.member;
    const user = this.options.user();
    if (member && user && this.state === 'attached') {
      // Unregister (RFC 3261 10.2.2) so the member frees the flow now.
      await this.register(member, user, 0).catch(() => undefined);
    }
    this.options.stack.setFlowContact(undefined);
  }

  view(): AttachmentView {
    return {
      state: this.state,
      member: this.member && `${this.member.address}:${this.member.port}`,
      transport: this.tcp ? 'tcp' : 'udp',
      rttMs: this.rttMs,
      contact: this.contact,
      reason: this.reason,
      since: this.since,
      keepaliveMs: this.keepaliveMs,
    };
  }

  /** Finds a member (again): nearest first among those that answer, the first that accepts us. */
  attach(reason?: string): Promise<void> {
    if (this.attaching) return this.attaching;
    this.attaching = this.runAttach(reason).finally(() => {
      this.attaching = undefined;
    });
    return this.attaching;
  }

  private async runAttach(reason?: string): Promise<void> {
    if (this.timer) this.options.timers.clear(this.timer);
    if (reason) this.reason = reason;
    this.state = 'attaching';
    this.options.onChange();
    const user = this.options.user();
    const candidates = dedupe(this.options.candidates());
    if (!user || !candidates.length) {
      this.state = 'detached';
      this.reason = user ? 'no member known to attach to' : 'no identity yet';
      this.options.onChange();
      this.schedule(RETRY_MS, () => void this.attach());
      return;
    }
    // Measure a few at once (RFC 8489 Binding), a member that just failed us last; the quickest
    // answer first. Stop waiting 250 ms after the first answer: a dead member would hold us 1.75 s.
    const failed = this.failedMember;
    const ordered = failed ? [...candidates.filter((c) => !same(c, failed)), ...candidates.filter((c) => same(c, failed))] : candidates;
    let answering = await this.measure(ordered.slice(0, 6), this.options.stun());
    // No answer over UDP from anyone: a firewall that drops UDP? Try TCP (RFC 5626 flows work on TCP too).
    this.options.stack.setTcpOnly(false);
    this.tcp = false;
    if (!answering.length) {
      answering = await this.measure(ordered.slice(0, 6), this.options.stunTcp());
      if (answering.length) {
        this.tcp = true;
        this.options.stack.setTcpOnly(true);
        this.options.log.info('no member answers over UDP; using TCP', { members: answering.length });
      }
    }
    const refusals: string[] = [];
    for (const candidate of answering) {
      if (this.stopped) return;
      const result = await this.register(candidate.member, user, REGISTER_EXPIRES_S);
      if ('contact' in result) {
        const changed = !this.member || this.member.address !== candidate.member.address || this.member.port !== candidate.member.port || this.contact !== result.contact;
        this.member = candidate.member;
        this.rttMs = candidate.rttMs;
        this.mapped = candidate.mapped;
        this.contact = result.contact;
        this.state = 'attached';
        // The reason shown is why we (re)attached, never an old failure.
        this.reason = reason;
        this.since = this.now();
        this.lastRegister = this.now();
        this.options.stack.setFlowContact(result.contact);
        this.options.log.info('attached to member', { member: `${candidate.member.address}:${candidate.member.port}`, rttMs: Math.round(candidate.rttMs), contact: result.contact });
        if (changed) this.options.onAttached(candidate.member, result.contact);
        this.options.onChange();
        this.schedule(this.keepaliveMs, () => void this.keepalive());
        return;
      }
      refusals.push(`${candidate.member.address}:${candidate.member.port} ${result.refused}`);
    }
    this.state = 'detached';
    this.reason = refusals.length ? `members refused: ${refusals.join('; ')}` : `no member answered (${candidates.length} tried)`;
    this.options.log.warn('could not attach to a member', { reason: this.reason });
    this.options.onChange();
    this.schedule(RETRY_MS, () => void this.attach());
  }

  private async keepalive(): Promise<void> {
    const member = this.member;
    if (!member || this.stopped) return;
    const outcome = await (this.tcp ? this.options.stunTcp() : this.options.stun()).binding(member);
    if (this.stopped) return;
    if (!outcome.ok) {
      this.failedMember = member;
      this.options.log.warn('member stopped answering', { member: `${member.address}:${member.port}` });
      await this.attach(`member ${member.address}:${member.port} stopped answering`);
      return;
    }
    this.rttMs = outcome.answer.rttMs;
    const mapped = outcome.answer.mapped;
    if (this.mapped && (mapped.address !== this.mapped.address || mapped.port !== this.mapped.port)) {
      // A new NAT binding (a new network, a rebooted router): the member's flow points at the old
      // one, and TCP connections opened from the old address are dead without knowing it.
      this.options.stack.dropConnections();
      await this.attach(`our public address changed to ${mapped.address}:${mapped.port}`);
      return;
    }
    if (this.now() - this.lastRegister > (REGISTER_EXPIRES_S * 1000) / 2) {
      const user = this.options.user();
      const result = user ? await this.register(member, user, REGISTER_EXPIRES_S) : { refused: 'no identity' };
      if (!('contact' in result)) {
        await this.attach(`member refused the refresh: ${result.refused}`);
        return;
      }
      this.lastRegister = this.now();
    }
    this.schedule(this.keepaliveMs, () => void this.keepalive());
  }

  private measure(candidates: TransportAddress[], stun: StunClient): Promise<Array<{ member: TransportAddress; rttMs: number; mapped: TransportAddress }>> {
    return new Promise((resolve) => {
      const found: Array<{ member: TransportAddress; rttMs: number; mapped: TransportAddress }> = [];
      let pending = candidates.length;
      let grace: TimerHandle | undefined;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        if (grace) this.options.timers.clear(grace);
        resolve([...found].sort((a, b) => a.rttMs - b.rttMs));
      };
      if (!pending) finish();
      for (const c of candidates) {
        void stun
          .binding(c)
          .then((outcome) => {
            if (outcome.ok) {
              found.push({ member: c, rttMs: outcome.answer.rttMs, mapped: outcome.answer.mapped });
              grace ??= this.options.timers.set(250, finish);
            }
            if (--pending === 0) finish();
          });
      }
    });
  }

  private async register(member: TransportAddress, user: string, expires: number): Promise<{ contact: string } | { refused: string }> {
    const stack = this.options.stack;
    const host = member.address.includes(':') ? `[${member.address}]` : member.address;
    const own = stack.host.includes(':') ? `[${stack.host}]` : stack.host;
    const outcome = await stack.request({
      method: 'REGISTER',
      requestUri: `sip:${host}:${member.port}`,
      to: `sip:${user}@${host}`,
      from: `sip:${user}@${host}`,
      contact: `sip:${user}@${own}:${stack.port}`,
      headers: { expires, supported: 'outbound, path' },
      timeoutMs: 4_000,
    });
    if (outcome.kind !== 'final') return { refused: outcome.kind };
    const response = outcome.response;
    if (response.status !== 200) return { refused: `${response.status} ${response.reason}` };
    if (expires === 0) return { contact: '' };
    const uri = flowUri(response.headers.path);
    if (!uri?.user) return { refused: 'no Path with a flow in the answer' };
    const pathHost = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
    return { contact: `sip:${uri.user}@${pathHost}:${uri.port ?? 5060};ob` };
  }

  private schedule(ms: number, fire: () => void): void {
    if (this.stopped) return;
    if (this.timer) this.options.timers.clear(this.timer);
    this.timer = this.options.timers.set(ms, fire);
  }
}

function same(a: TransportAddress, b: TransportAddress): boolean {
  return a.address === b.address && a.port === b.port;
}

function dedupe(list: TransportAddress[]): TransportAddress[] {
  const seen = new Set<string>();
  return list.filter((a) => {
    const key = `${a.address}:${a.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The first Path URI (RFC 3327), however the parser left it: text, or name-addr with a parsed URI. */
function flowUri(path: unknown): Pick<SipUri, 'user' | 'host' | 'port'> | undefined {
  const first: unknown = Array.isArray(path) ? path[0] : path;
  if (typeof first === 'string') return parseSipUri(first.replace(/^\s*<([^>]*)>.*$/, '$1'));
  const uri = (first as { uri?: unknown } | undefined)?.uri;
  if (typeof uri === 'string') return parseSipUri(uri);
  if (uri && typeof uri === 'object' && typeof (uri as SipUri).host === 'string') return uri as SipUri;
  return undefined;
}
