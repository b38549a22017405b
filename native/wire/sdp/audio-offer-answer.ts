// RFC 3264 offer/answer for a single audio stream of Opus (RFC 7587), G.722 and G.711 (RFC 3551)
// and telephone-event (RFC 4733). sdp-transform reads and writes the SDP text; the negotiation
// rules are ours.
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { answerDirection, directionOf, isDirection, sends, type MediaDirection } from './direction.js';
import { readIce, writeIce, type IceDescription, type RemoteIce } from './ice-attributes.js';
import { formatMediaKey, MEDIA_KEY_ATTRIBUTE, parseMediaKey, type MediaKey } from './media-key.js';
import { formatCrypto, parseCrypto, type CryptoAttribute } from './sdes.js';
import { DTLS_SRTP_PROTO, formatFingerprint, isDtlsSrtpProto, parseFingerprint, parseSetup, type DtlsDescription, type DtlsFingerprint, type DtlsSetup } from './dtls-attributes.js';

export type AudioCodecName = 'opus' | 'G722' | 'PCMU' | 'PCMA';

export interface AudioCodec {
  name: AudioCodecName;
  payloadType: number;
}

interface CodecFormat {
  /** The rtpmap encoding name, clock rate and channels. */
  encoding: string;
  clockRate: number;
  channels?: number;
  /** RFC 3551 Table 4's static type, or the dynamic one we offer. */
  payloadType: number;
  /** Our receiving preferences (a=fmtp). */
  fmtp?: string;
}

const CODEC_FORMATS: Record<AudioCodecName, CodecFormat> = {
  // RFC 7587 7: always opus/48000/2, whatever is sent. We take in-band FEC and prefer DTX (6.1).
  opus: { encoding: 'opus', clockRate: 48000, channels: 2, payloadType: 111, fmtp: 'minptime=10;useinbandfec=1;usedtx=1' },
  // RFC 3551 4.5.2: G.722 samples at 16 kHz but its RTP clock runs at 8000, an old mistake kept.
  G722: { encoding: 'G722', clockRate: 8000, payloadType: 9 },
  PCMU: { encoding: 'PCMU', clockRate: 8000, payloadType: 0 },
  PCMA: { encoding: 'PCMA', clockRate: 8000, payloadType: 8 },
};

/** The RTP timestamp rate of a codec (RFC 3551 4.5, RFC 7587 4.1). */
export function rtpClockRate(codec: AudioCodecName): number {
  return CODEC_FORMATS[codec].clockRate;
}

const DEFAULT_TELEPHONE_EVENT_PT = 101;
/** RFC 4733 2.1: events run on the audio's clock, so Opus needs its own telephone-event at 48000. */
const WIDEBAND_TELEPHONE_EVENT_PT = 110;
/** RFC 4733 3.2: events 0-15 are the DTMF digits, 16 the flash. */
const TELEPHONE_EVENTS = '0-16';
const FRAME_MS = 20;

export interface LocalMedia {
  /** Where we receive RTP. */
  address: string;
  port: number;
  /** Codecs we accept, most preferred first. */
  codecs: AudioCodecName[];
  /** Whether we offer or accept RFC 4733 events; a number picks our dynamic payload type in offers. */
  telephoneEvent: boolean | number;
  direction: MediaDirection;
  /** RFC 4566 5.2: o= session id, and a version the caller increments for every new offer in a dialog. */
  sessionId?: string;
  sessionVersion?: number;
  /** Our ICE ufrag, password and candidates (RFC 8839); an answer carries them only if the offer had ICE. */
  ice?: IceDescription;
  /** Our signed end-to-end key (media-key.ts): the stream is then RTP/SAVP and must be so both ways. */
  mediaKey?: MediaKey;
  /**
   * SDES keys (sdes.ts) for a phone: in an offer, one line per suite we take; in an answer, the
   * one line (the offer's tag and suite) we answer with. The stream is then RTP/SAVP.
   */
  sdes?: CryptoAttribute[];
  /**
   * DTLS-SRTP (RFC 5763) for a phone: our setup and certificate fingerprint. The stream is then
   * UDP/TLS/RTP/SAVP (an answer echoes the offer's profile) with RTCP multiplexed when the offer allows.
   */
  dtls?: DtlsDescription;
}

export interface NegotiatedAudio {
  codec: AudioCodec;
  /** Payload type of telephone-event if both sides take it. */
  telephoneEventPayloadType: number | undefined;
  /** Where to send RTP (symmetric RTP may later replace it with the source seen). */
  remoteAddress: string;
  remotePort: number;
  /** The direction from our side: whether we send and whether we receive. */
  direction: MediaDirection;
  /** The peer's ICE, when its SDP has it; without it media goes to remoteAddress:remotePort. */
  ice?: RemoteIce;
  /** The peer's signed end-to-end key, when the stream is encrypted (checked by the caller of this module). */
  peerMediaKey?: MediaKey;
  /** Keyed by SDES: our line and the peer's, of one tag and suite. */
  sdes?: { own: CryptoAttribute; peer: CryptoAttribute };
  /** Keyed by DTLS-SRTP: our setup (which says our role in the handshake) and the certificate the peer must present. */
  dtls?: { setup: DtlsSetup; peerFingerprint: DtlsFingerprint };
  /** RTCP goes on the RTP port (RFC 5761): both sides said a=rtcp-mux. */
  rtcpMux?: boolean;
  /** Opus: the peer's decoder asked for DTX (RFC 7587 6.1 `usedtx=1`; without it, no DTX toward it). */
  peerTakesDtx?: boolean;
}

export type SdpRefusalCode = 'malformed-sdp' | 'no-audio-stream' | 'no-common-codec' | 'not-secured';

export interface SdpRefusal {
  ok: false;
  code: SdpRefusalCode;
  reason: string;
}

export type AnswerResult = ({ ok: true; sdp: string } & NegotiatedAudio) | SdpRefusal;
export type AnswerReadResult = ({ ok: true } & NegotiatedAudio) | SdpRefusal;

function ipVersion(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function session(local: LocalMedia, media: MediaDescription[]): SessionDescription {
  const ip = ipVersion(local.address);
  return {
    version: 0,
    origin: {
      username: '-',
      sessionId: local.sessionId ?? '0',
      sessionVersion: local.sessionVersion ?? 0,
      netType: 'IN',
      ipVer: ip,
      address: local.address,
    },
    name: '-',
    connection: { version: ip, ip: local.address },
    timing: { start: 0, stop: 0 },
    media,
  } as SessionDescription;
}

/** A telephone-event payload type and the clock it runs at. */
interface EventFormat {
  payloadType: number;
  clockRate: number;
}

function audioMedia(local: LocalMedia, codecs: AudioCodec[], events: EventFormat[], direction: MediaDirection, answering?: { proto: string; rtcpMux: boolean }): MediaDescription {
  const rtp: { payload: number; codec: string; rate: number; encoding?: number }[] = [];
  const fmtp: { payload: number; config: string }[] = [];
  for (const codec of codecs) {
    const format = CODEC_FORMATS[codec.name];
    rtp.push({ payload: codec.payloadType, codec: format.encoding, rate: format.clockRate, ...(format.channels ? { encoding: format.channels } : {}) });
    if (format.fmtp) fmtp.push({ payload: codec.payloadType, config: format.fmtp });
  }
  for (const event of events) {
    rtp.push({ payload: event.payloadType, codec: 'telephone-event', rate: event.clockRate });
    fmtp.push({ payload: event.payloadType, config: TELEPHONE_EVENTS });
  }
  const media = {
    type: 'audio',
    port: local.port,
    // RFC 3711 7: the SRTP profile names an encrypted stream.
    protocol: local.dtls ? (answering?.proto ?? DTLS_SRTP_PROTO) : local.mediaKey || local.sdes?.length ? 'RTP/SAVP' : 'RTP/AVP',
    payloads: rtp.map((r) => r.payload).join(' '),
    rtp,
    fmtp,
    ptime: FRAME_MS,
    direction,
  } as MediaDescription;
  if (local.ice) writeIce(media, local.ice);
  if (local.mediaKey) media.invalid = [{ value: formatMediaKey(local.mediaKey) }];
  if (local.sdes?.length) media.invalid = [...(media.invalid ?? []), ...local.sdes.map((c) => ({ value: formatCrypto(c) }))];
  if (local.dtls) {
    media.setup = local.dtls.setup;
    const [type, hash] = formatFingerprint(local.dtls.fingerprint).split(' ');
    media.fingerprint = { type, hash };
    // One port for RTP and RTCP means one handshake (RFC 5764 4.1): offered always, answered when offered.
    if (!answering || answering.rtcpMux) media.rtcpMux = 'rtcp-mux';
  }
  return media;
}

export function createOffer(local: LocalMedia): string {
  const codecs = local.codecs.map((name) => ({ name, payloadType: CODEC_FORMATS[name].payloadType }));
  const events: EventFormat[] = [];
  if (local.telephoneEvent !== false) {
    events.push({ payloadType: local.telephoneEvent === true ? DEFAULT_TELEPHONE_EVENT_PT : local.telephoneEvent, clockRate: 8000 });
    if (local.codecs.some((name) => CODEC_FORMATS[name].clockRate === 48000)) events.push({ payloadType: WIDEBAND_TELEPHONE_EVENT_PT, clockRate: 48000 });
  }
  return write(session(local, [audioMedia(local, codecs, events, local.direction)]));
}

interface OfferedAudio {
  payloadTypes: number[];
  codecOf(pt: number): AudioCodecName | 'telephone-event' | undefined;
  /** The clock rate of a payload type's rtpmap (8000 for the static types without one). */
  clockOf(pt: number): number;
  /** A payload type's a=fmtp parameters, names in lower case. */
  fmtpOf(pt: number): Map<string, string>;
  address: string | undefined;
  port: number;
  direction: MediaDirection;
}

function parseSdp(text: string): SessionDescription | undefined {
  if (typeof text !== 'string' || !/^v=0\s*$/m.test(text)) return undefined;
  try {
    const parsed = parse(text);
    return Array.isArray(parsed.media) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function readAudio(sdp: SessionDescription, media: MediaDescription): OfferedAudio {
  const payloadTypes = String(media.payloads ?? '')
    .trim()
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 0 && n <= 127);
  const rtpmaps = new Map<number, { codec: string; rate: number; encoding?: number | string }>();
  for (const r of media.rtp ?? []) rtpmaps.set(Number(r.payload), { codec: String(r.codec), rate: Number(r.rate), encoding: r.encoding });
  const codecOf = (pt: number): AudioCodecName | 'telephone-event' | undefined => {
    const map = rtpmaps.get(pt);
    if (!map) {
      // RFC 3551 6: static types may be used without an rtpmap.
      if (pt === 0) return 'PCMU';
      if (pt === 8) return 'PCMA';
      if (pt === 9) return 'G722';
      return undefined;
    }
    const name = map.codec.toLowerCase();
    const channels = map.encoding === undefined ? 1 : Number(map.encoding);
    if (name === 'telephone-event') return map.rate === 8000 || map.rate === 48000 || map.rate === 16000 ? 'telephone-event' : undefined;
    for (const [codec, format] of Object.entries(CODEC_FORMATS) as [AudioCodecName, CodecFormat][]) {
      if (format.encoding.toLowerCase() === name && format.clockRate === map.rate && channels === (format.channels ?? 1)) return codec;
    }
    return undefined;
  };
  const clockOf = (pt: number): number => rtpmaps.get(pt)?.rate ?? 8000;
  const fmtpOf = (pt: number): Map<string, string> => {
    const line = (media.fmtp ?? []).find((f) => Number(f.payload) === pt);
    const params = new Map<string, string>();
    for (const part of String(line?.config ?? '').split(';')) {
      const [name, value] = part.split('=');
      if (name?.trim()) params.set(name.trim().toLowerCase(), (value ?? '').trim());
    }
    return params;
  };
  // RFC 4566 5.7: media-level c= overrides the session-level one.
  const connection = media.connection ?? sdp.connection;
  let direction: MediaDirection = isDirection(media.direction) ? media.direction : isDirection(sdp.direction) ? sdp.direction : 'sendrecv';
  const address = connection?.ip ? String(connection.ip).split('/')[0] : undefined;
  // RFC 3264 8.4: c=0.0.0.0 is the pre-3264 way to put a call on hold: the offerer receives nothing.
  if (address === '0.0.0.0') direction = directionOf(sends(direction), false);
  return { payloadTypes, codecOf, clockOf, fmtpOf, address, port: Number(media.port), direction };
}

/**
 * The telephone-event type to use with `codec`: the one on the codec's clock (RFC 4733 2.1);
 * failing that any, as phones that offer Opus with only telephone-event/8000 still expect keys.
 */
function eventTypeFor(audio: OfferedAudio, codec: AudioCodecName): number | undefined {
  const events = audio.payloadTypes.filter((pt) => audio.codecOf(pt) === 'telephone-event');
  return events.find((pt) => audio.clockOf(pt) === rtpClockRate(codec)) ?? events[0];
}

function isRtpAvp(media: MediaDescription): boolean {
  return media.type === 'audio' && String(media.protocol).toUpperCase() === 'RTP/AVP';
}

function isRtpSavp(media: MediaDescription): boolean {
  return media.type === 'audio' && String(media.protocol).toUpperCase() === 'RTP/SAVP';
}

function isDtlsSrtp(media: MediaDescription): boolean {
  return media.type === 'audio' && isDtlsSrtpProto(media.protocol);
}

/** A DTLS-SRTP stream's setup and fingerprint (media level, else session level: RFC 8122 5), or why we cannot take it. */
function dtlsOf(sdp: SessionDescription, media: MediaDescription): DtlsDescription | string {
  const line = media.fingerprint ?? sdp.fingerprint;
  const fingerprint = parseFingerprint(line?.type, line?.hash);
  if (typeof fingerprint === 'string') return fingerprint;
  // Media level, else session level (baresip writes it there); RFC 4145 4: none at all means active.
  const offered = media.setup ?? (sdp as { setup?: string }).setup;
  const setup = offered === undefined ? 'active' : parseSetup(offered);
  if (!setup) return `a=setup:${String(offered)} is not a role for media`;
  return { setup, fingerprint };
}

/** The stream's `a=peerdial-srtp`, 'malformed' when one is there but unreadable (sdp-transform leaves unknown attributes in `invalid`). */
function mediaKeyOf(media: MediaDescription): MediaKey | 'malformed' | undefined {
  const line = (media.invalid ?? []).find((entry) => String(entry.value).startsWith(`${MEDIA_KEY_ATTRIBUTE}:`));
  if (!line) return undefined;
  return parseMediaKey(String(line.value)) ?? 'malformed';
}

/** The stream's `a=crypto` lines we can take (RFC 4568), in the offerer's order. */
function cryptoOf(media: MediaDescription): { usable: CryptoAttribute[]; lines: number } {
  // sdp-transform reads a=crypto into `crypto`; the line is rebuilt and read by sdes.ts.
  const lines = (media.crypto ?? []).map((c) => `${c.id} ${c.suite} ${c.config}${c.sessionConfig ? ` ${c.sessionConfig}` : ''}`);
  return { usable: lines.map(parseCrypto).filter((c): c is CryptoAttribute => typeof c !== 'string'), lines: lines.length };
}

/**
 * What an offer says of encryption: its first audio stream's end-to-end key, SDES keys of a
 * phone (those we can take; none when it offers only suites we lack), plainly nothing, or unreadable.
 */
export type OfferedMediaKey =
  | { kind: 'key'; key: MediaKey }
  | { kind: 'sdes'; offered: CryptoAttribute[] }
  /** DTLS-SRTP: the phone's setup and fingerprint, or why we cannot take them. */
  | { kind: 'dtls'; offered: DtlsDescription | string }
  | { kind: 'none' }
  | { kind: 'malformed' };

export function offeredMediaKey(offerText: string): OfferedMediaKey {
  const offer = parseSdp(offerText);
  const media = offer?.media.find((m) => (isRtpAvp(m) || isRtpSavp(m) || isDtlsSrtp(m)) && Number(m.port) > 0);
  if (!offer || !media) return { kind: 'none' };
  if (isDtlsSrtp(media)) return { kind: 'dtls', offered: dtlsOf(offer, media) };
  const key = mediaKeyOf(media);
  if (isRtpSavp(media) && !key) {
    const crypto = cryptoOf(media);
    return crypto.lines ? { kind: 'sdes', offered: crypto.usable } : { kind: 'malformed' };
  }
  if (key === 'malformed') return { kind: 'malformed' };
  // A key on a plain RTP/AVP stream would be a half-encrypted offer: not one we take.
  if (key && !isRtpSavp(media)) return { kind: 'malformed' };
  return key ? { kind: 'key', key } : { kind: 'none' };
}

function rejected(media: MediaDescription): MediaDescription {
  // RFC 3264 6: a refused stream stays in place with port 0 and the offer's formats.
  return { type: String(media.type), port: 0, protocol: String(media.protocol), payloads: String(media.payloads ?? '0'), rtp: [], fmtp: [] } as MediaDescription;
}

/**
 * Answers an offer per RFC 3264 6: one m= line for each offered, the first usable RTP/AVP audio
 * stream accepted with one codec (the offerer's most preferred that we take) and telephone-event
 * if both have it; every other stream refused with port 0.
 */
export function answer(offerText: string, local: LocalMedia): AnswerResult {
  const offer = parseSdp(offerText);
  if (!offer) return { ok: false, code: 'malformed-sdp', reason: 'The offer is not a readable session description.' };
  let negotiated: NegotiatedAudio | undefined;
  let sawAudio = false;
  const answered: MediaDescription[] = [];
  for (const media of offer.media) {
    // An encrypted stream only when we carry a key of ours (the caller checked theirs); a plain one only without.
    const sdesLine = local.sdes?.[0];
    const peerCrypto = sdesLine && isRtpSavp(media) ? cryptoOf(media).usable.find((c) => c.tag === sdesLine.tag && c.suite === sdesLine.suite) : undefined;
    const peerDtls = local.dtls && isDtlsSrtp(media) ? dtlsOf(offer, media) : undefined;
    const takes = local.mediaKey
      ? isRtpSavp(media) && mediaKeyOf(media) !== undefined
      : sdesLine
        ? peerCrypto !== undefined
        : local.dtls
          ? peerDtls !== undefined && typeof peerDtls !== 'string'
          : isRtpAvp(media);
    if (negotiated || !takes || !(Number(media.port) > 0)) {
      answered.push(rejected(media));
      continue;
    }
    sawAudio = true;
    const audio = readAudio(offer, media);
    const chosenPt = audio.payloadTypes.find((pt) => {
      const name = audio.codecOf(pt);
      return name !== undefined && name !== 'telephone-event' && local.codecs.includes(name);
    });
    if (chosenPt === undefined || !audio.address) {
      answered.push(rejected(media));
      continue;
    }
    const codec: AudioCodec = { name: audio.codecOf(chosenPt) as AudioCodecName, payloadType: chosenPt };
    const te = local.telephoneEvent === false ? undefined : eventTypeFor(audio, codec.name);
    const direction = answerDirection(audio.direction, local.direction);
    const ice = readIce(offer, media);
    const peerKey = local.mediaKey ? mediaKeyOf(media) : undefined;
    negotiated = {
      codec,
      ...(codec.name === 'opus' && audio.fmtpOf(chosenPt).get('usedtx') === '1' ? { peerTakesDtx: true } : {}),
      telephoneEventPayloadType: te,
      remoteAddress: audio.address,
      remotePort: audio.port,
      direction,
      ice,
      ...(peerKey && peerKey !== 'malformed' ? { peerMediaKey: peerKey } : {}),
      ...(sdesLine && peerCrypto ? { sdes: { own: sdesLine, peer: peerCrypto } } : {}),
      ...(local.dtls && peerDtls && typeof peerDtls !== 'string' ? { dtls: { setup: local.dtls.setup, peerFingerprint: peerDtls.fingerprint }, rtcpMux: media.rtcpMux !== undefined } : {}),
    };
    // RFC 8839 4.2.1: no ICE in the answer to an offer without it.
    const answering = local.dtls ? { proto: String(media.protocol), rtcpMux: media.rtcpMux !== undefined } : undefined;
    answered.push(audioMedia(ice ? local : { ...local, ice: undefined }, [codec], te === undefined ? [] : [{ payloadType: te, clockRate: audio.clockOf(te) }], direction, answering));
  }
  if (!negotiated) {
    return sawAudio
      ? { ok: false, code: 'no-common-codec', reason: `None of the offered audio formats is one we speak (${local.codecs.join(', ')}).` }
      : { ok: false, code: 'no-audio-stream', reason: 'The offer has no audio stream we can take.' };
  }
  return { ok: true, sdp: write(session(local, answered)), ...negotiated };
}

/**
 * The offerer's side of RFC 3264 7: reads the answer to an offer we made with `local`.
 * The codec is the first one the answer lists that we offered.
 */
export function readAnswer(answerText: string, local: LocalMedia): AnswerReadResult {
  const sdp = parseSdp(answerText);
  if (!sdp) return { ok: false, code: 'malformed-sdp', reason: 'The answer is not a readable session description.' };
  const media = sdp.media.find((m) => isRtpAvp(m) || isRtpSavp(m) || isDtlsSrtp(m));
  if (!media || !(Number(media.port) > 0)) return { ok: false, code: 'no-audio-stream', reason: 'The answer refused the audio stream.' };
  const peerKey = mediaKeyOf(media);
  if (local.mediaKey && (!isRtpSavp(media) || peerKey === undefined || peerKey === 'malformed')) {
    return { ok: false, code: 'not-secured', reason: 'The answer carries no end-to-end key of the other side.' };
  }
  let sdes: NegotiatedAudio['sdes'];
  let dtls: NegotiatedAudio['dtls'];
  if (local.sdes?.length) {
    // RFC 4568 6.2.1: the answer takes one of our lines, by its tag, with the same suite.
    const peer = isRtpSavp(media) ? cryptoOf(media).usable.find((c) => local.sdes!.some((own) => own.tag === c.tag && own.suite === c.suite)) : undefined;
    if (!peer) return { ok: false, code: 'not-secured', reason: 'The answer takes none of the SRTP keys we offered.' };
    sdes = { own: local.sdes.find((own) => own.tag === peer.tag)!, peer };
  } else if (local.dtls) {
    // RFC 5763 5: the answer says active or passive, and names the certificate it will present.
    const peer = isDtlsSrtp(media) ? dtlsOf(sdp, media) : 'the answer is not DTLS-SRTP';
    if (typeof peer === 'string' || peer.setup === 'actpass') return { ok: false, code: 'not-secured', reason: `The answer does not take DTLS-SRTP (${typeof peer === 'string' ? peer : 'it says actpass'}).` };
    dtls = { setup: peer.setup === 'active' ? 'passive' : 'active', peerFingerprint: peer.fingerprint };
  } else if (!local.mediaKey && !isRtpAvp(media)) return { ok: false, code: 'no-audio-stream', reason: 'The answer turned the audio stream into one we did not offer.' };
  const audio = readAudio(sdp, media);
  const chosenPt = audio.payloadTypes.find((pt) => {
    const name = audio.codecOf(pt);
    return name !== undefined && name !== 'telephone-event' && local.codecs.includes(name);
  });
  if (chosenPt === undefined) return { ok: false, code: 'no-common-codec', reason: 'The answer lists no codec that we offered.' };
  if (!audio.address) return { ok: false, code: 'malformed-sdp', reason: 'The answer has no connection address.' };
  const name = audio.codecOf(chosenPt) as AudioCodecName;
  const te = local.telephoneEvent === false ? undefined : eventTypeFor(audio, name);
  return {
    ok: true,
    codec: { name, payloadType: chosenPt },
    ...(name === 'opus' && audio.fmtpOf(chosenPt).get('usedtx') === '1' ? { peerTakesDtx: true } : {}),
    telephoneEventPayloadType: te,
    remoteAddress: audio.address,
    remotePort: audio.port,
    // Our direction is the answer's, seen from the other end.
    direction: answerDirection(audio.direction, local.direction),
    ice: local.ice ? readIce(sdp, media) : undefined,
    ...(local.mediaKey && peerKey && peerKey !== 'malformed' ? { peerMediaKey: peerKey } : {}),
    ...(sdes ? { sdes } : {}),
    ...(dtls ? { dtls, rtcpMux: media.rtcpMux !== undefined } : {}),
  };
}
