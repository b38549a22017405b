// The NAT domain: STUN server on the SIP socket, NAT behaviour discovery, public address.
export * from './nat-service.js';
export type * from './nat-view.js';
export * from './relay-legs.js';
export * from './relay-service.js';
export * from './relay-finder.js';
export type * from './relay-view.js';
