// A gate between the DHT node's UDP socket and bittorrent-dht: every datagram is checked
// (wire/dht/krpc-check.ts) before the library reads it, and each one dropped is counted once,
// whoever drops it.
//
// What the library (bittorrent-dht 11.0.12 over k-rpc 5, k-rpc-socket 1) does by itself, and so
// what the gate adds:
// - not bencode, or a type other than q/r/e: k-rpc-socket emits 'warning'. Counted here.
// - a response or error whose "t" is not a string: k-rpc-socket returns silently. Dropped here.
// - a response or error with a transaction ID we have not sent, or from another host than the one
//   asked: k-rpc-socket emits 'response' and then 'warning', and on that 'response' k-rpc adds the
//   sender to the routing table: an unasked node gets in. Dropped here, before the library.
// - an error ("e") to a query we sent: the query fails (no warning); that is KRPC, not dropped.
// - a response naming another node ID than the one we asked: the query fails with
//   EUNEXPECTEDNODE, silently. Counted here, and still handed over (the query fails at once).
// - a query with a field of the wrong type (an integer info_hash, target or token): bittorrent-dht
//   throws in the socket's 'message' handler, which ends the process. Dropped here (bad-query);
//   and should anything still throw inside the library, it is caught here and counted.
// - a query of a method the library does not serve: ignored silently (k-rpc still adds the
//   querier to its routing table). Dropped here.
// - compact nodes cut short or with port 0: k-rpc parses what it can and skips the rest silently;
//   the whole answer is dropped here.
// - any datagram past MAX_KRPC_BYTES: read by the library when it is valid. Dropped here.
import type { RemoteInfo, Socket } from 'node:dgram';
import type DHT from 'bittorrent-dht';
import { checkKrpc, type KrpcDrop } from '../wire/dht/krpc-check.js';

export type GateDrop = KrpcDrop | 'unsolicited' | 'unexpected-node' | 'library-warning' | 'library-threw';

/** The parts of k-rpc-socket the gate reads: its UDP socket and its table of queries in flight. */
interface KrpcSocketInternals {
  socket: Socket;
  _ids: number[];
  _reqs: Array<{ peer: { host: string; id?: Uint8Array } } | null>;
}

type MessageListener = (buf: Buffer, rinfo: RemoteInfo) => void;

/**
 * Puts the gate in front of `dht`'s socket (right after `new DHT()`, before it listens). Dropped
 * datagrams count in `counters.dropped`; the library's other warnings (socket trouble) in
 * `counters.warnings`.
 */
export function guardKrpcSocket(dht: DHT, counters: { dropped: number; warnings: number }, onDrop: (why: GateDrop, from: RemoteInfo, detail: string) => void = () => undefined): void {
  const krpc = (dht as unknown as { _rpc?: { socket?: Partial<KrpcSocketInternals> } })._rpc?.socket;
  const udp = krpc?.socket;
  if (!krpc || !udp || !Array.isArray(krpc._ids) || !Array.isArray(krpc._reqs)) throw new Error('bittorrent-dht changed inside: the KRPC gate cannot find its socket');
  const inner = krpc as KrpcSocketInternals;
  const library = udp.listeners('message') as MessageListener[];
  for (const listener of library) udp.removeListener('message', listener);

  let current: { from: RemoteInfo; counted: boolean } | undefined;
  const count = (why: GateDrop, from: RemoteInfo, detail: string) => {
    counters.dropped++;
    onDrop(why, from, detail);
  };
  dht.on('warning', (error: Error) => {
    // k-rpc-socket warns synchronously while it reads a datagram: that datagram was dropped.
    if (current && !current.counted) {
      current.counted = true;
      count('library-warning', current.from, error.message);
    } else if (!current) counters.warnings++;
  });

  udp.on('message', (buf: Buffer, rinfo: RemoteInfo) => {
    const check = checkKrpc(buf);
    if (!check.ok) return count(check.drop, rinfo, check.detail);
    let counted = false;
    if (check.y !== 'q') {
      const tid = check.t.length >= 2 ? (check.t[0] << 8) | check.t[1] : 0;
      const index = tid === 0 ? -1 : inner._ids.indexOf(tid);
      const asked = index >= 0 ? inner._reqs[index] : null;
      if (!asked || asked.peer.host !== rinfo.address) return count('unsolicited', rinfo, `transaction ${tid}`);
      const id = check.y === 'r' ? (check.message.r as { id: Uint8Array }).id : undefined;
      if (id && asked.peer.id && !Buffer.from(asked.peer.id).equals(id)) {
        count('unexpected-node', rinfo, 'another node ID than the one asked');
        counted = true;
      }
    }
    current = { from: rinfo, counted };
    try {
      for (const listener of library) listener.call(udp, buf, rinfo);
    } catch (error) {
      if (!current.counted) count('library-threw', rinfo, String(error));
    } finally {
      current = undefined;
    }
  });
}
