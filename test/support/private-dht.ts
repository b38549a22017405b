// A private BitTorrent mainline DHT for tests and benchmarks: N bittorrent-dht nodes in this
// process on one address (loopback unless told; test/netns/private-dht-host.ts runs one on a lab
// host's address), each bootstrapped from the first few, so nothing ever reaches the internet.
// They store BEP 44 mutable items, as most mainline DHT nodes do.
import { verifyEd25519 as verifySignature } from '../../native/wire/crypto/signature.js';
import DHT from 'bittorrent-dht';

/** BEP 44 signatures (Ed25519): without a verify function a bittorrent-dht node stores no mutable item. */
export function verifyEd25519(signature: Buffer, data: Buffer, publicKey: Buffer): boolean {
  return verifySignature(Buffer.from(data), Buffer.from(signature).toString('base64url'), Buffer.from(publicKey).toString('base64url'));
}

export interface PrivateDht {
  /** HOST:PORT of a few of its nodes: a --dht-bootstrap list. */
  bootstrap: string[];
  nodes: DHT[];
  close(): Promise<void>;
}

export async function startPrivateDht(count: number, seeds = 4, host = '127.0.0.1'): Promise<PrivateDht> {
  const nodes: DHT[] = [];
  const listen = (dht: DHT) => new Promise<void>((resolve) => dht.listen(0, host, () => resolve()));
  for (let i = 0; i < seeds; i++) {
    const dht = new DHT({ bootstrap: false, verify: verifyEd25519 });
    await listen(dht);
    nodes.push(dht);
  }
  const bootstrap = nodes.map((n) => `${host}:${n.address()!.port}`);
  // The seeds know each other; every other node starts from them and fills its table by lookups.
  for (const a of nodes) for (const b of nodes) if (a !== b) a.addNode({ host, port: b.address()!.port });
  const rest: Array<Promise<void>> = [];
  for (let i = seeds; i < count; i++) {
    const dht = new DHT({ bootstrap, verify: verifyEd25519 });
    nodes.push(dht);
    rest.push(listen(dht).then(() => new Promise<void>((resolve) => (dht.ready ? resolve() : dht.once('ready', () => resolve())))));
  }
  await Promise.all(rest);
  return {
    bootstrap,
    nodes,
    close: async () => {
      await Promise.all(nodes.map((n) => new Promise<void>((resolve) => n.destroy(() => resolve()))));
    },
  };
}
