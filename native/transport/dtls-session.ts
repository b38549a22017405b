// One DTLS-SRTP handshake (RFC 5764) on a call's media port, over datagrams the call's socket
// carries: the socket hands us the records it demultiplexed (RFC 7983: first byte 20..63), and
// we give it records to send. The outcome is the call's SRTP keys, once the peer's certificate
// matches the fingerprint in its SDP and the handshake proves it holds that certificate's key.
//
// The DTLS itself is werift-dtls (pure TypeScript; docs/architecture.md says why it and what we
// add): this file and dtls-handshake-proof.ts are the only ones that know it.
import { DtlsClient, DtlsServer, type DtlsSocket } from 'werift-dtls/lib/dtls/src/index.js';
import { fingerprintOf, sameFingerprint, type DtlsFingerprint, type DtlsRole } from '../wire/sdp/dtls-attributes.js';
import { DTLS_SRTP_EXPORTER_LABEL, exportedLength, OFFERED_DTLS_SRTP_PROFILES, splitDtlsSrtpKeys, suiteOfProfile } from '../wire/srtp/dtls-srtp-keys.js';
import type { CallSrtpKeys } from '../wire/sdp/media-key.js';
import { handshakeProofProblem, recordPeerHandshake } from './dtls-handshake-proof.js';

export interface DtlsCredentials {
  certPem: string;
  /** PKCS#8, PEM. */
  keyPem: string;
}

export interface DtlsSessionOptions {
  role: DtlsRole;
  credentials: DtlsCredentials;
  /** The peer's `a=fingerprint`: the certificate it must present. */
  peerFingerprint: DtlsFingerprint;
  /** Sends one datagram to the peer's media address. */
  send(datagram: Buffer): void;
  /** How long the handshake may take, retransmissions included (default 15 s). */
  timeoutMs?: number;
}

export type DtlsFailure = 'wrong-certificate' | 'failed';
export type DtlsOutcome =
  | { ok: true; keys: CallSrtpKeys; handshakeMs: number }
  | { ok: false; problem: DtlsFailure; reason: string };

const DEFAULT_TIMEOUT_MS = 15_000;
/** RFC 5246 7.4.1.4.1: sha256 with ecdsa, which our P-256 certificate signs with. */
const ECDSA_SHA256 = { hash: 4, signature: 3 } as const;
/** werift's flight numbers run to 6; one past the end stops a flight's retransmission loop. */
const PAST_LAST_FLIGHT = 7;

/** werift's datagram transport, over the call's socket: it sends through us and we feed it what arrived. */
class CallTransport {
  readonly type = 'udp';
  closed = false;
  onData: (data: Buffer, address: readonly [string, number]) => void = () => undefined;
  constructor(private readonly sendDatagram: (datagram: Buffer) => void) {}
  get address() {
    return { address: '0.0.0.0', family: 'IPv4', port: 0 };
  }
  send = async (data: Buffer): Promise<void> => {
    if (!this.closed) this.sendDatagram(data);
  };
  close = async (): Promise<void> => {
    this.closed = true;
  };
}

export class DtlsSession {
  readonly outcome: Promise<DtlsOutcome>;
  /** The peer ended DTLS (an alert): a phone that refused our certificate says so this way. */
  onPeerClosed?: () => void;
  readonly counters = { recordsIn: 0, recordsOut: 0, malformed: 0 };
  private readonly socket: DtlsSocket;
  private readonly transport: CallTransport;
  private settle!: (outcome: DtlsOutcome) => void;
  private settled = false;
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly startedAt = performance.now();

  constructor(private readonly options: DtlsSessionOptions) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
    this.transport = new CallTransport((datagram) => {
      this.counters.recordsOut++;
      options.send(datagram);
    });
    const socketOptions = {
      transport: this.transport,
      cert: options.credentials.certPem,
      key: options.credentials.keyPem,
      signatureHash: ECDSA_SHA256,
      srtpProfiles: [...OFFERED_DTLS_SRTP_PROFILES],
      // As server we ask for the client's certificate: it is what the peer's a=fingerprint vouches for.
      certificateRequest: true,
      extendedMasterSecret: true,
    };
    this.socket = options.role === 'client' ? new DtlsClient(socketOptions) : new DtlsServer(socketOptions);
    const peerMessages = recordPeerHandshake(this.socket);
    this.socket.onConnect.subscribe(() => this.finish(this.keysOf(peerMessages)));
    this.socket.onError.subscribe((error: Error) => this.finish({ ok: false, problem: 'failed', reason: `DTLS handshake failed: ${error.message}` }));
    this.socket.onClose.subscribe(() => {
      if (!this.settled) this.finish({ ok: false, problem: 'failed', reason: 'the other side ended the DTLS handshake' });
      else this.onPeerClosed?.();
    });
    this.timer = setTimeout(() => this.finish({ ok: false, problem: 'failed', reason: `no DTLS handshake within ${Math.round((options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s` }), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    // connect() resolves only after its first flight's retransmission wait: it is not awaited.
    if (this.socket instanceof DtlsClient) this.socket.connect().catch((error: Error) => this.finish({ ok: false, problem: 'failed', reason: `DTLS handshake failed: ${error.message}` }));
  }

  /** A DTLS record that reached the call's socket. */
  receive(record: Buffer): void {
    if (this.transport.closed) return;
    this.counters.recordsIn++;
    try {
      this.transport.onData(record, ['', 0]);
    } catch {
      // werift parses the record layer outside its own error handling.
      this.counters.malformed++;
    }
  }

  close(): void {
    clearTimeout(this.timer);
    if (!this.settled) this.finish({ ok: false, problem: 'failed', reason: 'the call ended during the DTLS handshake' });
    void this.transport.close();
    // werift's flights retransmit on their own timers until the handshake moves past them.
    this.socket.dtls.flight = PAST_LAST_FLIGHT;
  }

  private keysOf(peerMessages: ReturnType<typeof recordPeerHandshake>): DtlsOutcome {
    const certificate = this.socket.remoteCertificate;
    if (!certificate) return { ok: false, problem: 'wrong-certificate', reason: 'the other side presented no certificate' };
    const presented = fingerprintOf(certificate);
    if (!sameFingerprint(presented, this.options.peerFingerprint)) {
      return { ok: false, problem: 'wrong-certificate', reason: "the other side's DTLS certificate is not the one its SDP fingerprint names" };
    }
    const problem = handshakeProofProblem(this.socket, this.options.role, peerMessages);
    if (problem) return { ok: false, problem: 'wrong-certificate', reason: problem };
    const profile = this.socket.srtp.srtpProfile;
    const suite = profile === undefined ? undefined : suiteOfProfile(profile);
    if (!suite) return { ok: false, problem: 'failed', reason: 'the DTLS handshake agreed no SRTP profile' };
    const material = this.socket.exportKeyingMaterial(DTLS_SRTP_EXPORTER_LABEL, exportedLength(suite));
    return { ok: true, keys: splitDtlsSrtpKeys(material, suite, this.options.role), handshakeMs: performance.now() - this.startedAt };
  }

  private finish(outcome: DtlsOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (!outcome.ok) {
      void this.transport.close();
      this.socket.dtls.flight = PAST_LAST_FLIGHT;
    }
    this.settle(outcome);
  }
}
