// What node.status says of the quotas and rate limits (issue 21): refusals by request class, the
// stream connections refused, evicted and closed for silence, MESSAGE bodies too large, senders
// over their rate, and the sources limited most (a bounded list). A leaf: control/api.ts imports it.

export interface LimitedSourceView {
  /** The source's IP address. */
  address: string;
  /**
   * The limit it met: a request class (invite, message, subscribe, register, overlay, dialog,
   * other), `tcp-per-address` (too many connections), `tcp-silent` (a connection that never
   * spoke), `message-size` (413), `message-sender` (a sender over its rate) or `records` (overlay records over quota).
   */
  method: string;
  count: number;
  /** When it last met it, ms since the epoch. */
  lastAt: number;
}

export interface LimitsView {
  /** Requests answered 503 (or dropped) for being over their source's rate, by class. */
  refused: { invite: number; message: number; subscribe: number; register: number; overlay: number; dialog: number; other: number };
  /** Of those, refusals not even answered (the source was refused faster than 20 answers a second). */
  unanswered: number;
  /** Stream connections refused: their address held its share, or no slot could be freed. */
  tcpRefused: number;
  /** Stream connections closed to make room for a newcomer (the one idle longest). */
  tcpEvicted: number;
  /** Stream connections closed for silence: no first message in time, or idle too long. */
  tcpIdleClosed: number;
  /** MESSAGEs refused 413 for a body over the limit. */
  tooLarge: number;
  /** MESSAGEs refused because their sender was over its rate. */
  sendersLimited: number;
  /** Overlay stores some of whose records were refused over their owner's or source network's quota (overlay.status stats.store has the counts by reason). */
  recordsRefused: number;
  /** The sources limited most, at most 32. */
  sources: LimitedSourceView[];
}
