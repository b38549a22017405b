// RFC 7983 7: what a datagram on a media port is, by its first byte. STUN (0..3) is recognised
// by wire/stun/message.ts and RTP/RTCP (128..191) by rtp-packet.ts; this adds DTLS.

/** A DTLS record (content types 20..63): a DTLS-SRTP handshake or alert on the media port. */
export function looksLikeDtls(datagram: Buffer): boolean {
  return datagram.length >= 13 && datagram[0] >= 20 && datagram[0] <= 63;
}
