// Whether a call is encrypted end to end, and with which keys. Between Peerdial users it must be:
// each side signs a fresh X25519 key with its identity key (wire/sdp/media-key.ts) and checks the
// other's against the key pinned for the buddy or, for a stranger, the owner of their name in
// the overlay. A Peerdial user's offer without a key (stripped on the way: a downgrade) or with a
// bad one is refused. A call with an ordinary SIP phone stays plain, marked "Not encrypted", if
// the user allows such calls.
import { generateX25519KeyPair } from '../../wire/crypto/x25519.js';
import { checkMediaKey, deriveCallSrtpKeys, signMediaKey, type CallSrtpKeys, type MediaKey, type MediaKeyContext } from '../../wire/sdp/media-key.js';
import { offeredMediaKey } from '../../wire/sdp/audio-offer-answer.js';
import { newCrypto, sdesCallKeys, type CryptoAttribute } from '../../wire/sdp/sdes.js';
import { answerSetup, type DtlsDescription, type DtlsSetup } from '../../wire/sdp/dtls-attributes.js';
import type { IdentityService } from '../identity/index.js';
import type { CallEncryption, SecurityRefusal } from './call-view.js';

export interface CallSecurityDeps {
  identity: IdentityService;
  /** The key pinned for a buddy, when `aor` is one. */
  pinnedKey?(aor: string): string | undefined;
  /** Who owns a name in the overlay, and whether it is a Peerdial user (its claim names an X25519 key) rather than a phone. */
  lookup?(aor: string): Promise<{ owner?: string; x25519?: string }>;
  /** Settings: whether calls with phones that cannot encrypt may go ahead in the clear. */
  allowPlainPhones(): boolean;
  /** False only in the setup benchmark, which measures what encryption adds: users' calls go plain. */
  encryptUserCalls?: boolean;
}

/** What the caller keeps between its offer and the answer. */
export interface OfferedSecurity {
  key: MediaKey;
  ephemeralPrivate: Buffer;
  context: MediaKeyContext;
  /** The identity the answer must be signed by. */
  peerIdentity: string;
}

export type Secured = { ok: true; keys: CallSrtpKeys } | { ok: false; refusal: SecurityRefusal; reason: string };
export type AnswerSecurity =
  | { kind: 'encrypted'; key: MediaKey; keys: CallSrtpKeys }
  /** A phone's SDES offer taken: our line for the answer, the call's keys, and whether they came over TLS. */
  | { kind: 'sdes'; own: CryptoAttribute; keys: CallSrtpKeys; overTls: boolean }
  /** A phone's DTLS-SRTP offer taken: our setup for the answer; the keys come from the handshake. */
  | { kind: 'dtls'; setup: DtlsSetup; peer: DtlsDescription }
  | { kind: 'plain' }
  | { kind: 'refused'; refusal: SecurityRefusal; reason: string };

export class CallSecurity {
  readonly refused: Record<SecurityRefusal, number> = { downgrade: 0, 'bad-signature': 0, 'wrong-key': 0, 'malformed-key': 0, unsupported: 0, 'plain-not-allowed': 0, 'wrong-certificate': 0, 'dtls-failed': 0 };
  encryptedCalls = 0;
  phoneEncryptedCalls = 0;
  plainCalls = 0;

  constructor(private readonly deps: CallSecurityDeps) {}

  /**
   * The caller's key for an offer to a Peerdial user (`peer` names an X25519 key in the overlay);
   * undefined for a phone, which is offered plain audio.
   */
  offer(callId: string, ownAor: string, peerAor: string, found: { owner?: string; x25519?: string }): OfferedSecurity | undefined {
    if (this.deps.encryptUserCalls === false || !found.x25519) return undefined;
    const peerIdentity = this.deps.pinnedKey?.(peerAor) ?? found.owner;
    const signing = this.signing();
    if (!peerIdentity || !signing) return undefined;
    const pair = generateX25519KeyPair();
    const context = { callId, callerAor: ownAor, calleeAor: peerAor };
    const key = signMediaKey('caller', context, { ephemeral: pair.publicKey.toString('base64url'), ...signing });
    return { key, ephemeralPrivate: pair.privateKey, context, peerIdentity };
  }

  /** The caller's check of the callee's signed key, and the keys both directions use. */
  answered(offered: OfferedSecurity, peerKey: MediaKey | undefined): Secured {
    if (!peerKey) return this.refuse('downgrade', 'the answer carries no end-to-end key');
    const check = checkMediaKey(peerKey, 'callee', offered.context, offered.peerIdentity, offered.key.ephemeral);
    if (!check.ok) return this.refuse(refusalOf(check.problem), check.reason);
    return this.keys('caller', offered.ephemeralPrivate, offered.key.ephemeral, peerKey.ephemeral, offered.context.callId);
  }

  /**
   * The callee's decision on an offer from `fromAor` (an overlay AOR, or undefined for anyone
   * else): encrypted with our signed key, keyed by a phone's SDES (`overTls`: the offer came
   * over TLS), plain (a phone), or refused.
   */
  async answer(callId: string, offer: string, ownAor: string | undefined, fromAor: string | undefined, vouchedPhone?: (userKey: string) => boolean, overTls = false): Promise<AnswerSecurity> {
    const offered = offeredMediaKey(offer);
    if (offered.kind === 'malformed') return this.refuse('malformed-key', 'the offer carries an end-to-end key that cannot be read');
    if (offered.kind === 'none' && this.deps.encryptUserCalls === false) return { kind: 'plain' };
    const found = fromAor ? await this.deps.lookup?.(fromAor).catch(() => undefined) : undefined;
    const peerIdentity = (fromAor && this.deps.pinnedKey?.(fromAor)) ?? found?.owner;
    if (offered.kind === 'none' || offered.kind === 'sdes' || offered.kind === 'dtls') {
      // A Peerdial user always offers a key: an offer without one from a user's name was stripped
      // on the way, unless the user's own node vouches that it comes from one of the user's phones.
      const user = fromAor && (found?.x25519 || this.deps.pinnedKey?.(fromAor));
      if (user && !(peerIdentity && vouchedPhone?.(peerIdentity))) return this.refuse('downgrade', 'the offer of a Peerdial user came without its end-to-end key');
      if (offered.kind === 'sdes') return this.answerSdes(offered.offered, overTls);
      if (offered.kind === 'dtls') {
        // The keys never cross the signalling, so this holds over UDP too (RFC 5763 8 on what the fingerprint's integrity still needs).
        if (typeof offered.offered === 'string') return this.refuse('unsupported', `the phone offers DTLS-SRTP that Peerdial cannot take: ${offered.offered}`);
        return { kind: 'dtls', setup: answerSetup(offered.offered.setup), peer: offered.offered };
      }
      if (!this.deps.allowPlainPhones()) return this.refuse('plain-not-allowed', 'the caller cannot encrypt, and calls in the clear are turned off in Settings');
      return { kind: 'plain' };
    }
    const signing = this.signing();
    if (!fromAor || !ownAor || !signing) return this.refuse('unsupported', 'the caller is not a user of this overlay, so its key cannot be checked');
    if (!peerIdentity) return this.refuse('wrong-key', `nobody owns ${fromAor} in the overlay to check its key against`);
    const context = { callId, callerAor: fromAor, calleeAor: ownAor };
    const check = checkMediaKey(offered.key, 'caller', context, peerIdentity);
    if (!check.ok) return this.refuse(refusalOf(check.problem), check.reason);
    const pair = generateX25519KeyPair();
    const key = signMediaKey('callee', context, { ephemeral: pair.publicKey.toString('base64url'), ...signing }, offered.key.ephemeral);
    const secured = this.keys('callee', pair.privateKey, offered.key.ephemeral, key.ephemeral, callId);
    return secured.ok ? { kind: 'encrypted', key, keys: secured.keys } : { kind: 'refused', refusal: secured.refusal, reason: secured.reason };
  }

  counted(encryption: CallEncryption): void {
    if (encryption === 'end-to-end') this.encryptedCalls++;
    else if (encryption === 'to-phone') this.phoneEncryptedCalls++;
    else this.plainCalls++;
  }

  /**
   * A phone's SDES offer (RFC 4568): its first line in a suite we speak, answered with a fresh key
   * of ours. Keys sent in the clear (not over TLS) are as good as none: such a call is taken only
   * where plain calls with phones are allowed.
   */
  private answerSdes(offered: CryptoAttribute[], overTls: boolean): AnswerSecurity {
    const peer = offered[0];
    if (!peer) return this.refuse('unsupported', 'the phone offers SRTP only in suites Peerdial does not speak');
    if (!overTls && !this.deps.allowPlainPhones()) return this.refuse('plain-not-allowed', 'the phone sent its SRTP keys in the clear (not over TLS), and calls in the clear are turned off in Settings');
    const own = newCrypto(peer.tag, peer.suite);
    return { kind: 'sdes', own, keys: sdesCallKeys(own, peer), overTls };
  }

  private signing(): { identity: string; identityPrivateKey: Buffer } | undefined {
    const identity = this.deps.identity.current;
    const privateKey = this.deps.identity.signingKey;
    return identity && privateKey ? { identity: identity.publicKey, identityPrivateKey: privateKey } : undefined;
  }

  private keys(role: 'caller' | 'callee', own: Buffer, callerEphemeral: string, calleeEphemeral: string, callId: string): Secured {
    try {
      return { ok: true, keys: deriveCallSrtpKeys(role, own, callerEphemeral, calleeEphemeral, callId) };
    } catch (error) {
      return this.refuse('malformed-key', (error as Error).message);
    }
  }

  private refuse(refusal: SecurityRefusal, reason: string): { ok: false; kind: 'refused'; refusal: SecurityRefusal; reason: string } {
    this.refused[refusal]++;
    return { ok: false, kind: 'refused', refusal, reason };
  }
}

function refusalOf(problem: 'version' | 'suite' | 'wrong-key' | 'signature'): SecurityRefusal {
  return problem === 'signature' ? 'bad-signature' : problem === 'wrong-key' ? 'wrong-key' : 'unsupported';
}
