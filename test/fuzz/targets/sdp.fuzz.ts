// Session descriptions from a caller or callee (native/wire/sdp): reading an offer's keys,
// answering it, reading an answer, and the attribute parsers on their own.
import { answer, offeredMediaKey, readAnswer, type LocalMedia } from '../../../native/wire/sdp/audio-offer-answer.js';
import { offeredIceUfrag, offersIce } from '../../../native/wire/sdp/ice-attributes.js';
import { parseMediaKey } from '../../../native/wire/sdp/media-key.js';
import { parseCrypto } from '../../../native/wire/sdp/sdes.js';
import { parseFingerprint, parseSetup } from '../../../native/wire/sdp/dtls-attributes.js';
import { holds } from '../support/contract.js';

const local: LocalMedia = { address: '192.0.2.1', port: 40000, codecs: ['opus', 'PCMU', 'PCMA', 'G722'], telephoneEvent: true, direction: 'sendrecv' };

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  offeredMediaKey(text);
  offersIce(text);
  offeredIceUfrag(text);
  const answered = answer(text, local);
  if (answered.ok) {
    // Whatever we answer must itself be a readable session description with our address.
    const back = readAnswer(answered.sdp, local);
    holds(back.ok || back.code !== 'malformed-sdp', `our answer is not readable SDP: ${back.ok ? '' : back.reason}\n${answered.sdp}`);
  }
  readAnswer(text, local);
  const line = text.split(/\r?\n/, 1)[0];
  parseCrypto(line);
  parseMediaKey(line);
  parseSetup(line);
  const [hash, value] = line.split(' ', 2);
  parseFingerprint(hash, value);
}
