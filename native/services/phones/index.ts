// The phones domain: SIP phones a user adds, their registrar, and the proxy that routes for the overlay's domain.
export * from './phones-service.js';
export type * from './phones-view.js';
