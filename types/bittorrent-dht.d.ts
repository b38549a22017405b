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
  }

  export default class DHT extends EventEmitter {
    constructor(options?: DhtOptions);
    readonly ready: boolean;
    readonly nodeId: Buffer;
    listen(port?: number, address?: string, onlistening?: () => void): void;
    address(): { address: string; family: string; port: number } | null;
    lookup(infoHash: Buffer | string, callback?: (error: Error | null, nodesWithPeers: number) => void): () => void;
    announce(infoHash: Buffer | string, port?: number, callback?: (error: Error | null) => void): void;
    addNode(node: { host: string; port: number; id?: Buffer }): void;
    toJSON(): { nodes: Array<{ host: string; port: number }>; values: Record<string, unknown> };
    destroy(callback?: () => void): void;
  }
}
