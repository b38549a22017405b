// Free UDP ports on loopback for the TURN tests' echo peers.
import dgram from 'node:dgram';

/** An even UDP port on `host` whose next port is free too (turnutils_uclient sends RTCP to port + 1). */
export async function freeEvenPortPair(host: string): Promise<number> {
  for (;;) {
    const first = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => first.bind(0, host, resolve));
    const port = first.address().port;
    const second = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      second.once('error', () => resolve(false));
      second.bind(port + 1, host, () => resolve(true));
    });
    first.close();
    second.close();
    if (free && port % 2 === 0) return port;
  }
}
