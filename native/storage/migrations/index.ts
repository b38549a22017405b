import { m001Identity } from './001-identity.js';
import { m002Settings } from './002-settings.js';
import { m003Messages } from './003-messages.js';
import { m004Overlay } from './004-overlay.js';
import { m005Calls } from './005-calls.js';
import { m006Buddies } from './006-buddies.js';
import { m007OfflineMessages } from './007-offline-messages.js';
import { m008Phones } from './008-phones.js';
import { m009Farm } from './009-farm.js';
import { m010SealedMessages } from './010-sealed-messages.js';
import { m011VerifiedBuddies } from './011-verified-buddies.js';
import { m012IdentityProtection } from './012-identity-protection.js';
import { m013PhoneTls } from './013-phone-tls.js';
import { m014VoiceMessages } from './014-voice-messages.js';
import { m015MessageRequests } from './015-message-requests.js';
import { m016MissedCallCount } from './016-missed-call-count.js';

export interface Migration {
  version: number;
  name: string;
  up: string;
}

/** Every migration, in order. Never edit a shipped one: add the next number. */
export const migrations: Migration[] = [m001Identity, m002Settings, m003Messages, m004Overlay, m005Calls, m006Buddies, m007OfflineMessages, m008Phones, m009Farm, m010SealedMessages, m011VerifiedBuddies, m012IdentityProtection, m013PhoneTls, m014VoiceMessages, m015MessageRequests, m016MissedCallCount];
