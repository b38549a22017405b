// The sockets of the SIP multicast REGISTER (RFC 3261 10.2.6: sip.mcast.net, 224.0.1.75:5060).
//
// Port 5060 is usually held already by our own SIP UDP socket, bound to 0.0.0.0 without
// SO_REUSEADDR (so that two nodes on one host never share a unicast port). Two sockets then
// live together like this:
// - the sender, on an ephemeral port, sends the REGISTERs (one copy per LAN interface), gets
//   the unicast answers, and joins the group on every LAN interface. On Linux a socket bound to
//   0.0.0.0:5060 receives the datagrams of every group joined on the host (IP_MULTICAST_ALL is
//   on by default), so once the group is joined the SIP socket hears the REGISTERs itself and
//   the SIP stack answers them like any overlay request.
// - the listener, bound to 224.0.1.75:5060 with SO_REUSEADDR, exists only when the SIP socket
//   leaves that port free (SIP on another port, or bound to one address): it hears the group
//   and its owner answers from it.
import dgram from 'node:dgram';
import os from 'node:os';

export const SIP_MULTICAST_GROUP = '224.0.1.75';
export const SIP_MULTICAST_PORT = 5060;

export interface DatagramSource {
  address: string;
  port: number;
}

export interface SipMulticastOptions {
  /** A datagram from the group (listener) or an answer to ours (sender). */
  onDatagram(bytes: Buffer, source: DatagramSource, arrivedOn: 'group' | 'unicast'): void;
  /** A socket broke. */
  onError?(error: Error): void;
  group?: string;
  port?: number;
}

export interface LanInterface {
  name: string;
  address: string;
}

/** This host's IPv4 LAN addresses: where multicast goes out and where the group is joined. */
export function lanInterfaces(): LanInterface[] {
  const found: LanInterface[] = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) found.push({ name, address: a.address });
  }
  return found;
}

export class SipMulticastSocket {
  private joined = new Set<string>();
  private closed = false;
  readonly stats = { datagramsIn: 0, sent: 0, sendErrors: 0 };

  private constructor(
    private readonly options: SipMulticastOptions,
    private readonly sender: dgram.Socket,
    private readonly listener: dgram.Socket | undefined,
    readonly group: string,
    readonly port: number,
  ) {
    sender.on('message', (bytes, rinfo) => {
      this.stats.datagramsIn++;
      options.onDatagram(bytes, { address: rinfo.address, port: rinfo.port }, 'unicast');
    });
    sender.on('error', (e) => options.onError?.(e));
    listener?.on('message', (bytes, rinfo) => {
      this.stats.datagramsIn++;
      options.onDatagram(bytes, { address: rinfo.address, port: rinfo.port }, 'group');
    });
    listener?.on('error', (e) => options.onError?.(e));
  }

  static async open(options: SipMulticastOptions): Promise<SipMulticastSocket> {
    const group = options.group ?? SIP_MULTICAST_GROUP;
    const port = options.port ?? SIP_MULTICAST_PORT;
    const sender = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await bind(sender, 0, '0.0.0.0');
    // RFC 3261 10.2.6: multicast REGISTERs stay on the local network (TTL 1).
    sender.setMulticastTTL(1);
    // Other nodes on this same host hear our REGISTERs through the loopback; our own answers to
    // ourselves are recognised by node ID and ignored.
    sender.setMulticastLoopback(true);
    const listener = await openListener(group, port);
    const socket = new SipMulticastSocket(options, sender, listener, group, port);
    socket.joinInterfaces();
    return socket;
  }

  /** True when this socket hears the group itself (else the SIP socket on 0.0.0.0:5060 does). */
  get hearsGroup(): boolean {
    return this.listener !== undefined;
  }

  /** The port answers to our REGISTERs come back to (the Via of what we send). */
  get senderPort(): number {
    return this.sender.address().port;
  }

  /** Joins the group on LAN interfaces not joined yet (after a network change); returns the interfaces in use. */
  joinInterfaces(): LanInterface[] {
    const interfaces = lanInterfaces();
    const current = new Set(interfaces.map((i) => i.address));
    for (const address of this.joined) {
      if (current.has(address)) continue;
      this.joined.delete(address);
      try {
        this.sender.dropMembership(this.group, address);
      } catch {
        // the interface is gone, and its membership with it
      }
    }
    for (const { address } of interfaces) {
      if (this.joined.has(address)) continue;
      try {
        this.sender.addMembership(this.group, address);
        if (this.listener && this.listener !== this.sender) this.listener.addMembership(this.group, address);
        this.joined.add(address);
      } catch (error) {
        // EADDRINUSE: already joined on this interface under another address of it.
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') this.options.onError?.(error as Error);
      }
    }
    return interfaces;
  }

  /** Sends one copy out of each LAN interface given; returns how many went out. */
  async sendToGroup(bytes: Buffer, interfaces: LanInterface[]): Promise<number> {
    let sent = 0;
    for (const { address } of interfaces) {
      if (this.closed) break;
      try {
        this.sender.setMulticastInterface(address);
        await new Promise<void>((resolve, reject) => this.sender.send(bytes, this.port, this.group, (e) => (e ? reject(e) : resolve())));
        sent++;
        this.stats.sent++;
      } catch {
        this.stats.sendErrors++;
      }
    }
    return sent;
  }

  /** A unicast answer to someone who sent to the group, from the listener (the port they sent to). */
  answer(bytes: Buffer, to: DatagramSource): void {
    const socket = this.listener ?? this.sender;
    socket.send(bytes, to.port, to.address, (e) => {
      if (e) this.stats.sendErrors++;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sockets = [this.sender, ...(this.listener ? [this.listener] : [])];
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
}

/**
 * Binds the group's port where the SIP socket leaves it free: on the group address (so a SIP
 * socket on one unicast address of this host keeps its own traffic), else on 0.0.0.0 (systems
 * that refuse to bind a multicast address). Undefined when the port is taken on 0.0.0.0.
 */
async function openListener(group: string, port: number): Promise<dgram.Socket | undefined> {
  for (const address of [group, '0.0.0.0']) {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await bind(socket, port, address);
      return socket;
    } catch {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    }
  }
  return undefined;
}
