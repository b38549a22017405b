// The BitTorrent mainline DHT (BEP 5) as the engine uses it: bittorrent-dht's node (its own UDP
// socket, routing table and KRPC via k-rpc), seen through the few calls the DHT service needs.
import DHT from 'bittorrent-dht';
import { guardKrpcSocket } from './krpc-gate.js';

export interface DhtPeer {
  host: string;
  port: number;
}

export interface MainlineDht {
  /** Where our DHT node listens. */
  address(): { address: string; port: number } | undefined;
  /** DHT nodes in our routing table. */
  nodeCount(): number;
  /** A recursive get_peers for `infohash`; each peer found is given to `onPeer` as it comes. */
  lookup(infohash: Buffer, onPeer: (peer: DhtPeer) => void): Promise<number>;
  /** announce_peer for `infohash` with `port` (after the lookup that gets the tokens). */
  announce(infohash: Buffer, port: number): Promise<void>;
  /** KRPC datagrams dropped (malformed, unasked, oversized: krpc-gate.ts), other warnings of the library, and errors seen. */
  readonly counters: { dropped: number; warnings: number; errors: number };
  close(): Promise<void>;
}

export interface MainlineDhtOptions {
  bind: string;
  port: number;
  /** HOST:PORT of DHT nodes to start from; the public routers when undefined. */
  bootstrap?: string[];
}

/** Starts a DHT node; resolves once it listens and has bootstrapped (or failed to: it keeps trying). */
export async function startMainlineDht(options: MainlineDhtOptions): Promise<MainlineDht> {
  const dht = new DHT({ ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}) });
  const counters = { dropped: 0, warnings: 0, errors: 0 };
  guardKrpcSocket(dht, counters);
  dht.on('error', () => counters.errors++);
  await new Promise<void>((resolve) => dht.listen(options.port, options.bind, () => resolve()));
  await new Promise<void>((resolve) => {
    // 'ready' comes when the bootstrap lookup ends, whether or not it found anybody.
    if ((dht as unknown as { ready: boolean }).ready) resolve();
    else dht.once('ready', () => resolve());
  });
  return {
    address: () => {
      const a = dht.address() as { address: string; port: number } | undefined;
      return a && { address: a.address, port: a.port };
    },
    nodeCount: () => dht.toJSON().nodes.length,
    lookup: (infohash, onPeer) =>
      new Promise((resolve, reject) => {
        const listener = (peer: DhtPeer, hash: Buffer) => {
          if (Buffer.from(hash).equals(infohash)) onPeer({ host: peer.host, port: peer.port });
        };
        dht.on('peer', listener);
        dht.lookup(infohash, (error: Error | null, found: number) => {
          dht.removeListener('peer', listener);
          if (error) reject(error);
          else resolve(found ?? 0);
        });
      }),
    announce: (infohash, port) => new Promise((resolve, reject) => dht.announce(infohash, port, (error: Error | null) => (error ? reject(error) : resolve()))),
    counters,
    close: () => new Promise((resolve) => dht.destroy(() => resolve())),
  };
}
