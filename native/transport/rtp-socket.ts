// The UDP sockets of one RTP session: RTP on an even port and RTCP on the next one
// (RFC 3550 11), taken from a port range. RTCP multiplexed onto the RTP port (RFC 5761) is
// recognised by its packet type and handed over as RTCP.
import dgram from 'node:dgram';
import net from 'node:net';
import { looksLikeRtcp } from '../wire/rtp/rtp-packet.js';

export interface RtpEndpoint {
  address: string;
  port: number;
}

export type RtcpArrival = 'rtcp-port' | 'rtp-port';

export interface RtpSocketOptions {
  bind: string;
  /** Inclusive range for the RTP port (default 16384..32766, the common RTP range). */
  portRange?: [number, number];
  onRtp(datagram: Buffer, from: RtpEndpoint): void;
  onRtcp(datagram: Buffer, from: RtpEndpoint, arrival: RtcpArrival): void;
  /** A socket failed as a whole (not a single send). */
  onError?(error: Error): void;
}

export const DEFAULT_RTP_PORT_RANGE: [number, number] = [16384, 32766];
const BIND_ATTEMPTS = 64;

export class NoFreeRtpPortError extends Error {
  readonly code = 'NO_FREE_RTP_PORT';
  constructor(range: [number, number], address: string) {
    super(`no free RTP/RTCP port pair in ${range[0]}-${range[1]} on ${address}`);
  }
}

export class RtpSocketPair {
  readonly stats = { sendErrors: 0 };
  private closed = false;

  private constructor(
    private readonly rtp: dgram.Socket,
    private readonly rtcp: dgram.Socket,
    readonly address: string,
    readonly port: number,
    options: RtpSocketOptions,
  ) {
    rtp.on('message', (datagram, info) => {
      const from = { address: info.address, port: info.port };
      if (looksLikeRtcp(datagram)) options.onRtcp(datagram, from, 'rtp-port');
      else options.onRtp(datagram, from);
    });
    rtcp.on('message', (datagram, info) => options.onRtcp(datagram, { address: info.address, port: info.port }, 'rtcp-port'));
    for (const socket of [rtp, rtcp]) socket.on('error', (error) => options.onError?.(error));
  }

  static async open(options: RtpSocketOptions): Promise<RtpSocketPair> {
    const range = options.portRange ?? DEFAULT_RTP_PORT_RANGE;
    const low = range[0] + (range[0] & 1);
    const high = Math.min(range[1], 65534);
    if (low > high) throw new RangeError(`RTP port range ${range[0]}-${range[1]} holds no even port`);
    const evenPorts = Math.floor((high - low) / 2) + 1;
    for (let attempt = 0; attempt < Math.min(BIND_ATTEMPTS, evenPorts * 2); attempt++) {
      const port = low + 2 * Math.floor(Math.random() * evenPorts);
      const pair = await RtpSocketPair.tryBind(options, port);
      if (pair) return pair;
    }
    throw new NoFreeRtpPortError(range, options.bind);
  }

  private static async tryBind(options: RtpSocketOptions, port: number): Promise<RtpSocketPair | undefined> {
    const type = net.isIPv6(options.bind) ? 'udp6' : 'udp4';
    const rtp = dgram.createSocket({ type });
    const rtcp = dgram.createSocket({ type });
    try {
      await bind(rtp, port, options.bind);
      await bind(rtcp, port + 1, options.bind);
    } catch (error) {
      rtp.close();
      rtcp.close();
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' || (error as NodeJS.ErrnoException).code === 'EACCES') return undefined;
      throw error;
    }
    return new RtpSocketPair(rtp, rtcp, options.bind, port, options);
  }

  /** Fifty a second per call: one shared callback, no promise or closure per packet (they are garbage the media clock pays for). */
  sendRtp(datagram: Buffer, to: RtpEndpoint): void {
    if (this.closed) return;
    try {
      this.rtp.send(datagram, to.port, to.address, this.countSendError);
    } catch {
      // A bad address or port from a peer's SDP throws synchronously; it is a failed send, not a crash.
      this.stats.sendErrors++;
    }
  }

  private readonly countSendError = (error: Error | null): void => {
    if (error) this.stats.sendErrors++;
  };

  /** RTCP goes out of the RTCP port, or the RTP port when the peer multiplexes (RFC 5761 4). */
  sendRtcp(datagram: Buffer, to: RtpEndpoint, from: RtcpArrival = 'rtcp-port'): Promise<void> {
    return this.send(from === 'rtp-port' ? this.rtp : this.rtcp, datagram, to);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.rtp, this.rtcp].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Resolves once the datagram has left (or failed); never rejects. */
  private send(socket: dgram.Socket, datagram: Buffer, to: RtpEndpoint): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.send(datagram, to.port, to.address, (error) => {
          if (error) this.stats.sendErrors++;
          resolve();
        });
      } catch {
        // A bad address or port from a peer's SDP throws synchronously; it is a failed send, not a crash.
        this.stats.sendErrors++;
        resolve();
      }
    });
  }
}

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}
