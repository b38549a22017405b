// BEP 5 sizes for what our DHT node sends others. An answer to find_node, get_peers or get names
// the K = 8 closest good nodes, and an announce_peer or put goes to the 8 closest nodes the
// traversal found. bittorrent-dht 11 asks k-bucket 5 for closest() without a count, which gives
// every node: answers of about 1.6 kB with a routing table of 60, and announces and puts sent to
// 45-55 nodes (bench/results/dht.json, measured before this; 60 % of the DHT bytes were node lists
// past the eighth).
import type DHT from 'bittorrent-dht';

/** BEP 5's K. */
export const DHT_K = 8;

interface KBucketLike {
  closest(id: Uint8Array, n?: number): unknown[];
}

/** Makes `dht`'s routing table and its traversal tables name 8 nodes unless a count is asked for. */
export function answerWithKClosest(dht: DHT): void {
  const internals = dht as unknown as { _rpc: { nodes: KBucketLike }; _tables: { set(key: string, table: KBucketLike): unknown } };
  capClosest(internals._rpc.nodes);
  const set = internals._tables.set.bind(internals._tables);
  internals._tables.set = (key, table) => {
    capClosest(table);
    return set(key, table);
  };
}

function capClosest(bucket: KBucketLike): void {
  const closest = bucket.closest.bind(bucket);
  // k-rpc's own traversals ask with their count (k = 20): unchanged.
  bucket.closest = (id, n) => closest(id, n ?? DHT_K);
}
