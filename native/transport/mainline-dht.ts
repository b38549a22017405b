// The BitTorrent mainline DHT (BEP 5) as the engine uses it: bittorrent-dht's node (its own UDP
// socket, routing table and KRPC via k-rpc), seen through the few calls the DHT service needs.
import { createHash } from 'node:crypto';
import DHT from 'bittorrent-dht';
import { guardKrpcSocket } from './krpc-gate.js';
import { answerWithKClosest } from './krpc-courtesy.js';
import { verifyEd25519 } from '../wire/crypto/signature.js';

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
  /**
   * BEP 44 get of the mutable item under (publicKey, salt): of the answers whose signature holds
   * and whose key and salt hash to the target, the one with the highest seq.
   */
  getMutable(publicKey: Buffer, salt: Buffer): Promise<MutableItem | undefined>;
  /**
   * BEP 44 put, signed by `sign`. `cas`: the seq read before (the storing nodes refuse the put if
   * another device wrote meanwhile). Resolves with how many DHT nodes stored it.
   */
  putMutable(item: { publicKey: Buffer; salt: Buffer; seq: number; value: Buffer; cas?: number; sign(data: Buffer): Buffer }): Promise<number>;
  /**
   * KRPC datagrams dropped (malformed, unasked, oversized: krpc-gate.ts), the library's other
   * warnings, errors seen, and mutable items refused because their signature did not hold.
   */
  readonly counters: { dropped: number; warnings: number; errors: number; badSignatures: number };
  close(): Promise<void>;
}

export interface MutableItem {
  value: Buffer;
  seq: number;
}

/** Items of other users this node keeps for the DHT (BEP 44 puts it accepts), each at most 1000 bytes. */
const MAX_STORED_ITEMS = 200;

export interface MainlineDhtOptions {
  bind: string;
  port: number;
  /** HOST:PORT of DHT nodes to start from; the public routers when undefined. */
  bootstrap?: string[];
}

/** Starts a DHT node; resolves once it listens and has bootstrapped (or failed to: it keeps trying). */
export async function startMainlineDht(options: MainlineDhtOptions): Promise<MainlineDht> {
  const counters = { dropped: 0, warnings: 0, errors: 0, badSignatures: 0 };
  const checkSignature = (signature: Buffer, data: Buffer, publicKey: Buffer): boolean => {
    const good = verifyEd25519(Buffer.from(data), Buffer.from(signature).toString('base64url'), Buffer.from(publicKey).toString('base64url'));
    if (!good) counters.badSignatures++;
    return good;
  };
  const dht = new DHT({ ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}), verify: checkSignature, maxValues: MAX_STORED_ITEMS });
  guardKrpcSocket(dht, counters);
  answerWithKClosest(dht);
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
    getMutable: (publicKey, salt) =>
      new Promise((resolve, reject) => {
        dht.get(hashTarget(publicKey, salt), { salt, verify: checkSignature, cache: false }, (error: Error | null, found: { v: Uint8Array; seq?: number } | null) => {
          if (error) reject(error);
          else resolve(found ? { value: Buffer.from(found.v), seq: found.seq ?? 0 } : undefined);
        });
      }),
    putMutable: (item) =>
      new Promise((resolve, reject) => {
        dht.put({ k: item.publicKey, v: item.value, salt: item.salt, seq: item.seq, ...(item.cas !== undefined ? { cas: item.cas } : {}), sign: item.sign }, (error: Error | null, _key: Buffer, stored: number) =>
          error ? reject(error) : resolve(stored ?? 0),
        );
      }),
    counters,
    close: () => new Promise((resolve) => dht.destroy(() => resolve())),
  };
}

/** BEP 44: a mutable item lives at SHA-1(public key || salt). */
function hashTarget(publicKey: Buffer, salt: Buffer): Buffer {
  return createHash('sha1').update(Buffer.concat([publicKey, salt])).digest();
}
