// A TURN allocation for one call (RFC 8656), as the call's ICE sees it: a RelayLeg. Over UDP the
// TURN client speaks from the call's own RTP socket (so the relay's permission and the NAT's
// mapping are the socket's); over TCP (where UDP is blocked) it gets a connection of its own,
// cut into messages by TurnStreamReader.
import type { Logger } from '../../log.js';
import { TurnClient } from '../../proto/nat/turn-client.js';
import { TurnStreamReader } from '../../proto/nat/turn-stream.js';
import type { TimerHost } from '../../proto/sip/timers.js';
import { connectTcp, type TcpConnection } from '../../transport/tcp-stream.js';
import type { TransportAddress } from '../../wire/stun/message.js';
import type { CallSocket, RelayLeg } from '../calls/index.js';

export interface RelayServer {
  server: TransportAddress;
  transport: 'udp' | 'tcp';
  username: string;
  password: string;
  /** Who runs it, for the call screen: a member's name or address, or the user's own TURN server. */
  label: string;
}

export interface LegOptions {
  timers: TimerHost;
  log: Logger;
  now: () => number;
  /** Called when the allocation is lost mid-call (the relay died): ICE then looks for another path. */
  onLost?(leg: RelayLeg, reason: string): void;
}

const CONNECT_TIMEOUT_MS = 3000;
let legCount = 0;

/** Allocates on `relay`; undefined (logged) when it refuses or does not answer. */
export async function allocateLeg(relay: RelayServer, socket: CallSocket, options: LegOptions): Promise<RelayLeg | undefined> {
  const key = `relay${++legCount}`;
  let connection: TcpConnection | undefined;
  const holder: { leg?: RelayLeg } = {};
  const client = new TurnClient({
    server: relay.server,
    transport: relay.transport,
    username: relay.username,
    password: relay.password,
    timers: options.timers,
    now: options.now,
    rtoMs: 200,
    sends: 4,
    tcpTimeoutMs: 5000,
    send: (bytes) => (relay.transport === 'udp' ? socket.send(bytes, relay.server) : connection?.write(bytes)),
    onData: (data, from) => holder.leg?.onData?.(data, from),
    onFailed: (reason) => {
      options.log.info('a relay was lost', { relay: relay.label, reason });
      if (holder.leg) options.onLost?.(holder.leg, reason);
    },
  });
  if (relay.transport === 'udp') socket.listen(relay.server, (bytes) => client.receive(bytes));
  if (relay.transport === 'tcp') {
    connection = await connectTcp(relay.server, CONNECT_TIMEOUT_MS).catch((error: Error) => {
      options.log.info('cannot reach the relay over TCP', { relay: relay.label, error: error.message });
      return undefined;
    });
    if (!connection) return undefined;
    const reader = new TurnStreamReader();
    connection.onData((chunk) => {
      for (const message of reader.push(chunk)) client.receive(message);
      if (reader.error) connection?.destroy();
    });
    connection.onClose(() => {
      if (client.state === 'allocated' && holder.leg) options.onLost?.(holder.leg, 'the TCP connection to the relay closed');
    });
  }
  const outcome = await client.allocate();
  if (!outcome.ok) {
    options.log.info('the relay refused an allocation', { relay: relay.label, code: outcome.code, reason: outcome.reason });
    connection?.destroy();
    return undefined;
  }
  const leg: RelayLeg = {
    key,
    label: relay.label,
    server: relay.server,
    relayed: outcome.relayed,
    mapped: outcome.mapped,
    permit: (peer) => client.permit(peer),
    sendTo: (peer, data) => client.sendTo(peer, data),
    close: async () => {
      await client.close().catch(() => undefined);
      connection?.destroy();
    },
  };
  holder.leg = leg;
  return leg;
}
