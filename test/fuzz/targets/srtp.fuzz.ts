// SRTP and SRTCP packets from a call's peer (native/wire/srtp): the receivers' framing,
// replay and authentication checks in both suites, and protect/unprotect of what parses as RTP.
import { parseRtpPacket } from '../../../native/wire/rtp/rtp-packet.js';
import { SRTP_SUITES, SrtcpReceiver, SrtpReceiver, SrtpSender, type SrtpSuite } from '../../../native/wire/srtp/srtp.js';
import { holds } from '../support/contract.js';

const suites: SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'];
const masterKey = Buffer.alloc(16, 1);
const salt = (s: SrtpSuite) => Buffer.alloc(SRTP_SUITES[s].masterSaltBytes, 2);
const receivers = suites.map((s) => ({ rtp: new SrtpReceiver(masterKey, salt(s), s), rtcp: new SrtcpReceiver(masterKey, salt(s), s) }));

export function fuzz(data: Buffer): void {
  for (const r of receivers) {
    r.rtp.unprotect(data);
    r.rtcp.unprotect(data);
  }
  if (!parseRtpPacket(data).ok) return;
  const suite = suites[data.length % 2];
  const sealed = new SrtpSender(masterKey, salt(suite), suite).protect(data);
  const opened = new SrtpReceiver(masterKey, salt(suite), suite).unprotect(sealed);
  holds(opened.ok && opened.rtp.equals(data), `${suite}: a packet we protected does not unprotect to itself: ${JSON.stringify(opened.ok ? 'different bytes' : opened.reason)}`);
}
