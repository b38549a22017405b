// RTP and RTCP datagrams from a peer's media socket (native/wire/rtp) and what is read out of
// their payloads: telephone events, Opus TOC bytes, the DTLS/RTCP demultiplexing tests.
import { opusPacketMs } from '../../../native/wire/audio/opus-toc.js';
import { looksLikeDtls } from '../../../native/wire/rtp/demultiplex.js';
import { parseRtcpCompound } from '../../../native/wire/rtp/rtcp.js';
import { looksLikeRtcp, parseRtpPacket, serializeRtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { parseTelephoneEvent, serializeTelephoneEvent } from '../../../native/wire/rtp/telephone-event.js';
import { sameAfterRoundTrip } from '../support/contract.js';

export function fuzz(data: Buffer): void {
  looksLikeDtls(data);
  looksLikeRtcp(data);
  parseRtcpCompound(data);
  const rtp = parseRtpPacket(data);
  if (!rtp.ok) return;
  const p = rtp.packet;
  const again = parseRtpPacket(serializeRtpPacket({ ...p, paddingLength: p.paddingLength || undefined }));
  sameAfterRoundTrip('RTP packet', p, again.ok ? again.packet : again);
  opusPacketMs(p.payload);
  const event = parseTelephoneEvent(p.payload);
  if (event) sameAfterRoundTrip('telephone event', event, parseTelephoneEvent(serializeTelephoneEvent(event)));
}
