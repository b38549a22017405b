// The part of bittorrent-dht (BEP 5, BEP 44) Peerdial uses (it ships no types).
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';

  export interface DhtOptions {
    nodeId?: Buffer | string;
    /** HOST:PORT strings; false for none; the public routers when absent. */
    bootstrap?: string[] | false;
    host?: string | false;
    concurrency?: number;
    verify?: (signature: Buffer, value: Buffer, publicKey: Buffer) => boolean;
    timeBucketOutdated?: number;
    maxAge?: number;
    /** Items kept for others (BEP 44 puts and immutable puts), least recently used dropped first. */
    maxValues?: number;
  }

  export interface PutOptions {
    /** Ed25519 public key (32 bytes): a mutable item. */
    k: Buffer;
    v: Buffer;
    salt?: Buffer;
    seq: number;
    cas?: number;
    sign(data: Buffer): Buffer;
  }

  export interface GetOptions {
    salt?: Buffer;
    verify?: (signature: Buffer, value: Buffer, publicKey: Buffer) => boolean;
    /** false: ask the DHT even when this node holds the item. */
    cache?: boolean;
  }

  export default class DHT extends EventEmitter {
    constructor(options?: DhtOptions);
    readonly ready: boolean;
    readonly nodeId: Buffer;
    listen(port?: number, address?: string, onlistening?: () => void): void;
    address(): { address: string; family: string; port: number } | null;
    lookup(infoHash: Buffer | string, callback?: (error: Error | null, nodesWithPeers: number) => void): () => void;
    announce(infoHash: Buffer | string, port?: number, callback?: (error: Error | null) => void): void;
    put(options: PutOptions, callback: (error: Error | null, key: Buffer, stored: number) => void): Buffer;
    get(target: Buffer, options: GetOptions, callback: (error: Error | null, item: { v: Uint8Array; seq?: number; k?: Uint8Array; sig?: Uint8Array } | null) => void): void;
    addNode(node: { host: string; port: number; id?: Buffer }): void;
    toJSON(): { nodes: Array<{ host: string; port: number }>; values: Record<string, unknown> };
    destroy(callback?: () => void): void;
  }
}
