// The NAT domain: STUN server on the SIP socket, NAT behaviour discovery, public address.
export * from './nat-service.js';
export type * from './nat-view.js';
