// Relay credential requests and grants between a client and a member (native/wire/relay).
import { decodeCredentialGrant, decodeCredentialRequest } from '../../../native/wire/relay/credential.js';
import { SEED_NOW } from '../support/seed-time.js';

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  decodeCredentialRequest(text, SEED_NOW);
  decodeCredentialGrant(text);
}
