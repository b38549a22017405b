// What the rest of the engine may use of sip: other domains and the composition roots import this, not the files behind it.
export * from './sip-stack.js';
export type * from './limits-view.js';
export * from './stateless-response.js';
export * from './advertised-address.js';
export * from './subscriptions/event-subscriber.js';
export * from './subscriptions/event-notifier.js';
