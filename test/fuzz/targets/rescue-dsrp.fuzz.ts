// DotSlash rescue protocol bodies (native/wire/rescue): DSRP messages over SIP and the HTTP
// signature fields (RFC 9421 structured dictionaries, RFC 9530 Content-Digest) of rescued responses.
import { decodeDsrp } from '../../../native/wire/rescue/dsrp.js';
import { generateKeyPairSync } from 'node:crypto';
import { checkContentDigest, parseDictionary, verifyResponse } from '../../../native/wire/rescue/http-signature.js';
import { SEED_NOW } from '../support/seed-time.js';

const { publicKey } = generateKeyPairSync('ed25519');

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  decodeDsrp(text, SEED_NOW);
  parseDictionary(text);
  const cut = text.indexOf('\n');
  checkContentDigest(cut < 0 ? text : text.slice(0, cut), data.subarray(cut + 1));
  // A rescued response's Signature-Input (first line) and Signature (second line) fields.
  const [signatureInput, signature = ''] = text.split('\n', 2);
  verifyResponse({ status: 200, headers: { 'content-digest': signature }, requestTarget: '/a?b', signatureInput, signature }, publicKey, 'k', { nowSeconds: SEED_NOW / 1000 });
}
