// A stateful proxy's core (RFC 3261 16.5 to 16.10): one request sent to several targets at
// once, each in its own client transaction; provisional responses and every 2xx go upstream as
// they come, the first 2xx (or a 6xx) cancels the other branches (16.7 step 10, 16.10), and
// when every branch has failed the best of their answers goes upstream (16.7 step 6).
import { chooseFinal, upstreamStatus } from '../../proto/sip/proxy-choice.js';
import type { SipRequest, SipResponse } from '../../wire/sip/message.js';
import type { Remote } from '../../transport/sip-sockets.js';
import type { ForwardedRequest, IncomingRequest, SipStack } from '../sip/index.js';
import type { RouteEntry } from './dialog-routes.js';

export interface ProxyTarget {
  /** The new Request-URI (16.5). */
  uri: string;
  /** Where the branch is sent: a phone's flow, ourselves, or the URI's host. */
  remote: Remote;
  /** RFC 3263 4.3: where it goes next when `remote` fails, answers 503, or stays silent. */
  alternates?: Remote[];
  /** Record-Route entries this branch carries (16.6 step 4), topmost first. */
  recordRoute: RouteEntry[];
  /** Changes this branch's copy of the request before it goes (a phone's plain offer). */
  adaptRequest?(copy: SipRequest): void;
  /** Changes this branch's 2xx before it goes upstream (the user's word for the phone's answer). */
  adaptAnswer?(response: SipResponse): void;
}

interface Branch {
  forwarded?: ForwardedRequest;
  final?: { status: number; reason: string; response?: SipResponse };
}

export const PROXY_BRANCH_PREFIX = 'z9hG4bK-pdpx-';
/** RFC 3263 4.3: a target that gives no answer at all this soon gives way to the next. */
const SILENT_TARGET_MS = 4_000;

export class ForkingProxy {
  constructor(private readonly options: { stack: SipStack; counters: { proxied: number; branches: number } }) {}

  /** Sends `incoming` on to every target; `hops` is what Max-Forwards becomes (16.6 step 3). */
  fork(incoming: IncomingRequest, targets: readonly ProxyTarget[], hops: number): void {
    if (!targets.length) {
      incoming.respond(480, { reason: 'Temporarily Unavailable (no device of this user is online)' });
      return;
    }
    this.options.counters.proxied++;
    const isInvite = incoming.request.method === 'INVITE';
    const branches: Branch[] = targets.map(() => ({}));
    let answered = false;
    const cancelOthers = (except?: Branch) => {
      for (const b of branches) if (b !== except && !b.final) b.forwarded?.cancel();
    };
    const settle = () => {
      if (answered || branches.some((b) => !b.final)) return;
      answered = true;
      const finals = branches.map((b) => b.final!);
      const best = finals[chooseFinal(finals.map((f) => f.status))];
      const status = upstreamStatus(best.status);
      if (best.response && status === best.status) incoming.relay(best.response);
      else incoming.respond(status, { reason: status === best.status ? best.reason : 'Server Internal Error (every device was unavailable)' });
    };
    incoming.onCancel = () => cancelOthers();
    targets.forEach((target, i) => {
      const branch = branches[i];
      const remotes = [target.remote, ...(target.alternates ?? [])];
      const start = (attempt: number) => {
        const copy = structuredClone(incoming.request) as SipRequest;
        copy.uri = target.uri;
        copy.headers['max-forwards'] = hops;
        if (target.recordRoute.length) copy.headers['record-route'] = [...target.recordRoute, ...((copy.headers['record-route'] as RouteEntry[] | undefined) ?? [])];
        target.adaptRequest?.(copy);
        let heard = false;
        const canFailOver = () => !heard && attempt + 1 < remotes.length && !answered && !branch.final;
        const onResponse = (response: SipResponse) => {
          response.headers.via.shift();
          const status = response.status;
          heard = heard || status !== 503;
          if (status === 100) return;
          if (status < 200) {
            if (!answered) incoming.relay(response);
            return;
          }
          if (status < 300) {
            target.adaptAnswer?.(response);
            // Every 2xx to an INVITE goes upstream, the caller's dialog ACKs (or ends) each.
            if (!answered || isInvite) incoming.relay(response);
            if (!answered) {
              answered = true;
              branch.final = { status, reason: response.reason, response };
              cancelOthers(branch);
            }
            return;
          }
          if (branch.final) return;
          if (status === 503 && attempt + 1 < remotes.length && !answered) return start(attempt + 1);
          branch.final = { status, reason: response.reason, response };
          if (status >= 600) cancelOthers(branch);
          settle();
        };
        this.options.counters.branches++;
        const silentMs = attempt + 1 < remotes.length && isInvite ? SILENT_TARGET_MS : undefined;
        const forwarded = this.options.stack.forward(copy, remotes[attempt], onResponse, PROXY_BRANCH_PREFIX, silentMs);
        if ('kind' in forwarded) {
          if (canFailOver()) return start(attempt + 1);
          branch.final = { status: 503, reason: `Service Unavailable (${forwarded.kind})` };
          return;
        }
        branch.forwarded = forwarded;
        void forwarded.outcome.then((outcome) => {
          if (branch.final || outcome.kind === 'final' || branch.forwarded !== forwarded) return;
          if (canFailOver()) return start(attempt + 1);
          branch.final = outcome.kind === 'timeout' ? { status: 408, reason: 'Request Timeout (a device did not answer)' } : { status: 480, reason: `Temporarily Unavailable (a device could not be reached: ${outcome.kind})` };
          settle();
        });
      };
      start(0);
    });
    settle();
  }
}
