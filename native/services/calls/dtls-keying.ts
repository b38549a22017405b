// The DTLS-SRTP side of a call's media session (RFC 5764): the handshake on the call's socket,
// what arrives before its keys (kept, a little of it, to be opened once they are in), and the
// records that wait for ICE to have a checked pair. The media session sends and receives; this
// decides what happens to DTLS records and to media while keys are pending.
import type { Logger } from '../../log.js';
import { DtlsSession, type DtlsCredentials, type DtlsFailure } from '../../transport/dtls-session.js';
import type { RtpEndpoint } from '../../transport/rtp-socket.js';
import { dtlsRoleFor, type DtlsFingerprint, type DtlsSetup } from '../../wire/sdp/dtls-attributes.js';
import type { CallSrtpKeys } from '../../wire/sdp/media-key.js';
import { looksLikeDtls } from '../../wire/rtp/demultiplex.js';

/** Datagrams kept while keys are pending: a phone may send before our side of the handshake ends. */
const EARLY_DATAGRAMS = 32;

export interface DtlsKeyingHost {
  log: Logger;
  /** Sends a record on the media path; false when there is no path yet (with ICE: no checked pair). */
  send(record: Buffer, peer: RtpEndpoint | undefined): boolean;
  /** The keys are agreed: install them (still pending: nothing was sent or read in the clear). */
  keyed(keys: CallSrtpKeys): void;
  /** Once keyed, what arrived meanwhile, in order. */
  arrivedEarly(early: { datagram: Buffer; from: RtpEndpoint }[]): void;
  failed(problem: DtlsFailure, reason: string): void;
  /** Whether any audio came from the peer yet (a DTLS alert before that is a refusal). */
  heardPeer(): boolean;
}

export class DtlsKeying {
  private session: DtlsSession | undefined;
  private readonly early: { datagram: Buffer; from: RtpEndpoint }[] = [];
  private readonly outbox: Buffer[] = [];
  /** Where the peer's DTLS comes from: our records answer there (its SDP address may be a LAN one). */
  private peer: RtpEndpoint | undefined;
  private closed = false;
  /** True from start() until the keys are in: nothing goes out in the clear meanwhile. */
  pending = false;
  /** Datagrams dropped because too many came while keys were pending. */
  overflowed = 0;

  constructor(
    private readonly credentials: DtlsCredentials,
    private readonly host: DtlsKeyingHost,
  ) {}

  get started(): boolean {
    return this.session !== undefined;
  }

  start(ownSetup: DtlsSetup, peerFingerprint: DtlsFingerprint): void {
    if (this.session || this.closed) return;
    this.pending = true;
    const session = new DtlsSession({
      role: dtlsRoleFor(ownSetup),
      credentials: this.credentials,
      peerFingerprint,
      send: (record) => {
        if (!this.host.send(record, this.peer) && this.outbox.length < EARLY_DATAGRAMS) this.outbox.push(record);
      },
    });
    this.session = session;
    session.onPeerClosed = () => {
      // A phone checks our certificate after the handshake and ends DTLS when it does not match.
      if (!this.host.heardPeer() && !this.closed) this.host.failed('wrong-certificate', 'the other side ended DTLS before any audio: it did not accept our certificate');
    };
    for (const held of this.early.splice(0)) if (looksLikeDtls(held.datagram)) session.receive(held.datagram);
    void session.outcome
      .then((outcome) => {
        if (this.closed) return;
        if (!outcome.ok) {
          this.host.log.info('DTLS-SRTP failed', { problem: outcome.problem, reason: outcome.reason });
          this.host.failed(outcome.problem, outcome.reason);
          return;
        }
        this.host.log.debug('DTLS-SRTP keys agreed', { suite: outcome.keys.suite, handshakeMs: Math.round(outcome.handshakeMs) });
        this.host.keyed(outcome.keys);
        this.pending = false;
        this.host.arrivedEarly(this.early.splice(0));
      })
      // A bug here must end the call's security, not the engine.
      .catch((error: unknown) => this.host.failed('failed', `DTLS-SRTP keys could not be put in place: ${String(error)}`));
  }

  /** RFC 7983: a DTLS record on the media port goes to the handshake, or waits for it to start. */
  receiveRecord(record: Buffer, from: RtpEndpoint, viaIce: boolean): void {
    if (!viaIce) this.peer = from;
    if (this.session) this.session.receive(record);
    else this.hold(record, from);
  }

  /** Media that came while keys are pending. */
  hold(datagram: Buffer, from: RtpEndpoint): void {
    if (this.early.length < EARLY_DATAGRAMS) this.early.push({ datagram, from });
    else this.overflowed++;
  }

  /** ICE has a checked pair now: what waited for it goes. */
  pathReady(): void {
    for (const record of this.outbox.splice(0)) this.host.send(record, this.peer);
  }

  close(): void {
    this.closed = true;
    this.session?.close();
  }
}
