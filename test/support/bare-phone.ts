// A SIP phone on a bare UDP socket that a test drives line by line: it answers INVITEs (plain
// PCMU at once, or a 183 with early media first), re-INVITEs (200, or 481 as a phone that forgot
// the call) and BYEs, and keeps every message it gets. For what real phones do not let a test
// choose: never refreshing a session, sending audio before the answer.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../native/roots/node-engine.js';
import { encodeG711 } from '../../native/wire/audio/g711.js';

/** The phone's answer: PCMU on `port` (where nothing listens unless it plays early media). */
const sdp = (port = 40998) => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
const SDP = sdp();

export interface Seen {
  start: string;
  text: string;
  header(name: string): string | undefined;
}

/** A phone on a UDP socket: answers INVITEs (or not) and BYEs, keeps everything it gets. */
export class BarePhone {
  readonly seen: Seen[] = [];
  /** How re-INVITEs are answered: 200, or 481 as a phone that restarted and forgot the call. */
  reinviteStatus: 200 | 481 = 200;
  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (bytes, from) => this.onMessage(bytes.toString(), from));
  }

  static async open(): Promise<BarePhone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new BarePhone(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }

  /** Sends an INVITE to the engine, with these extra header lines. */
  invite(to: Engine, extra: string[]): { callId: string } {
    const callId = `${randomBytes(6).toString('hex')}@phone`;
    const message = [
      `INVITE ${to.sipContact} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:deskphone@127.0.0.1:${this.port}>;tag=ph1`,
      `To: <${to.sipContact}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:deskphone@127.0.0.1:${this.port}>`,
      ...extra,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(SDP)}`,
      '',
      SDP,
    ].join('\r\n');
    this.socket.send(message, to.sip.port, '127.0.0.1');
    return { callId };
  }

  private onMessage(text: string, from: dgram.RemoteInfo): void {
    const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim();
    const start = text.slice(0, text.indexOf('\r\n'));
    this.seen.push({ start, text, header });
    const method = /^([A-Z]+) /.exec(start)?.[1];
    if (!method || method === 'ACK') {
      if (start.startsWith('SIP/2.0 200') && header('CSeq')?.endsWith('INVITE')) this.ack(text, header, from);
      return;
    }
    const reinvite = method === 'INVITE' && /;tag=/.test(header('To') ?? '');
    const forgot = method === 'INVITE' && reinvite && this.reinviteStatus === 481;
    const extra = method === 'INVITE' && header('Session-Expires') ? [`Session-Expires: ${this.answeredExpires ?? header('Session-Expires')}`, 'Require: timer'] : [];
    const reply = (status: string, body: string, lines: string[] = []) => {
      const to = /;tag=/.test(header('To') ?? '') ? header('To') : `${header('To')};tag=ph2`;
      const response = [
        `SIP/2.0 ${status}`,
        `Via: ${header('Via')}`,
        `From: ${header('From')}`,
        `To: ${to}`,
        `Call-ID: ${header('Call-ID')}`,
        `CSeq: ${header('CSeq')}`,
        `Contact: <sip:deskphone@127.0.0.1:${this.port}>`,
        ...lines,
        ...(body ? ['Content-Type: application/sdp'] : []),
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n');
      this.socket.send(response, from.port, from.address);
    };
    if (forgot) return reply('481 Call/Transaction Does Not Exist', '');
    if (method !== 'INVITE') return reply('200 OK', '');
    if (reinvite || !this.earlyMedia) return reply('200 OK', SDP, extra);
    const callId = header('Call-ID')!;
    if (this.answering.has(callId)) return; // a retransmission while the early media plays
    this.answering.add(callId);
    const offer = text.slice(text.indexOf('\r\n\r\n') + 4);
    const port = Number(/^m=audio (\d+)/m.exec(offer)?.[1]);
    const address = /^c=IN IP4 (\S+)/m.exec(offer)?.[1] ?? '127.0.0.1';
    void this.playEarly(address, port, this.earlyMedia, (mediaPort) => reply('183 Session Progress', sdp(mediaPort))).then((mediaPort) => reply('200 OK', sdp(mediaPort), extra));
  }

  /** Before answering, a 183 with SDP and this much of a tone as PCMU (a network's ringback, say). */
  earlyMedia: { seconds: number; hz: number } | undefined;
  private readonly answering = new Set<string>();

  private async playEarly(address: string, port: number, tone: { seconds: number; hz: number }, ready: (mediaPort: number) => void): Promise<number> {
    const media = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', () => resolve()));
    const mediaPort = media.address().port;
    ready(mediaPort);
    const ssrc = randomBytes(4).readUInt32BE();
    let phase = 0;
    for (let packet = 0; packet < tone.seconds * 50; packet++) {
      const samples = Int16Array.from({ length: 160 }, () => Math.round(8000 * Math.sin((phase += (2 * Math.PI * tone.hz) / 8000))));
      const header = Buffer.alloc(12);
      header[0] = 0x80;
      header.writeUInt16BE(packet & 0xffff, 2);
      header.writeUInt32BE(packet * 160, 4);
      header.writeUInt32BE(ssrc, 8);
      media.send(Buffer.concat([header, encodeG711('mu', samples)]), port, address);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    media.close();
    return mediaPort;
  }

  /** What the phone's 2xx to the node's INVITE says in Session-Expires (default: what the INVITE asked). */
  answeredExpires: string | undefined;

  private ack(text: string, header: (name: string) => string | undefined, from: dgram.RemoteInfo): void {
    const target = /^Contact:\s*<([^>]+)>/im.exec(text)?.[1] ?? `sip:x@${from.address}:${from.port}`;
    const ack = [
      `ACK ${target} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: ${header('From')}`,
      `To: ${header('To')}`,
      `Call-ID: ${header('Call-ID')}`,
      `CSeq: ${header('CSeq')!.split(' ')[0]} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(ack, from.port, from.address);
  }
}

