// Contacts as a lookup returns them: a device that takes SIP over TLS is reached at its TLS port,
// with its certificate pinned (`sip:bob@HOST:TLSPORT;transport=tls;pdcert=...`), not at the
// `sip:bob@HOST:PORT` its node prints. Tests that ask "is bob found at his device" compare the
// user and host, which name one device in every test setup.
import { parseSipUri } from '../../native/wire/sip/uri.js';

/** `bob@192.0.2.10` of any contact of bob's device there. */
export function deviceOf(contact: string): string {
  const uri = parseSipUri(contact);
  return uri ? `${uri.user ?? ''}@${uri.host}`.toLowerCase() : contact;
}

/** True when `contacts` reach the device whose own contact is `contact`. */
export function reachesDevice(contacts: readonly string[], contact: string): boolean {
  return contacts.some((c) => deviceOf(c) === deviceOf(contact));
}
