// Many light clients of one member, for bench:nat: each is a UDP socket that attaches with a
// REGISTER (Supported: outbound), keeps its flow with a STUN Binding every keepalive interval,
// and answers 200 to whatever the member forwards to it. A sender sends MESSAGEs to the clients'
// flow URIs through the member and times each until its 200 comes back.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { BINDING, serializeStun } from '../native/wire/stun/message.js';

export interface SimulatedClients {
  flows: string[];
  /** Bytes sent and received for keepalives (UDP payload plus 28 bytes of IPv4/UDP headers each way). */
  keepaliveBytes(): number;
  close(): void;
}

const SOCKETS_PER_BATCH = 200;

/** Attaches `count` clients to the member at 127.0.0.1:`port`; resolves once every one has its flow. */
export async function attachClients(port: number, count: number, keepaliveMs: number): Promise<SimulatedClients> {
  const sockets: dgram.Socket[] = [];
  const flows: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  let keepaliveBytes = 0;
  for (let start = 0; start < count; start += SOCKETS_PER_BATCH) {
    const batch = Array.from({ length: Math.min(SOCKETS_PER_BATCH, count - start) }, (_, i) => start + i);
    flows.push(
      ...(await Promise.all(
        batch.map(async (n) => {
          const socket = dgram.createSocket('udp4');
          await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
          sockets.push(socket);
          const local = socket.address().port;
          const flow = await new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => {
              clearInterval(again);
              reject(new Error(`client ${n} got no answer to its REGISTER`));
            }, 10_000);
            // UDP: send again until the answer comes, as a SIP client does (RFC 3261 17.1.2.2).
            const bytes = register(n, local, port);
            const again = setInterval(() => socket.send(bytes, port, '127.0.0.1'), 500);
            socket.on('message', (bytes) => {
              if (bytes[0] < 2) {
                keepaliveBytes += bytes.length + 28;
                return;
              }
              const text = bytes.toString('latin1');
              if (text.startsWith('SIP/2.0 200') && /CSeq: 1 REGISTER/i.test(text)) {
                const path = /^Path:\s*<sip:([^@]+)@/im.exec(text);
                clearTimeout(timer);
                clearInterval(again);
                if (path) resolve(`sip:${path[1]}@127.0.0.1:${port};ob`);
                else reject(new Error('no Path in the answer'));
                return;
              }
              if (/^[A-Z]+ sip:/.test(text)) socket.send(answer200(text), /* back to the member */ port, '127.0.0.1');
            });
            socket.send(bytes, port, '127.0.0.1');
          });
          const stun = () => {
            const bytes = serializeStun({ method: BINDING, klass: 'request', transactionId: randomBytes(12), attributes: [] }, { fingerprint: true });
            keepaliveBytes += bytes.length + 28;
            socket.send(bytes, port, '127.0.0.1');
          };
          // Spread the keepalives over the interval, as independent clients would be.
          timers.push(setTimeout(() => timers.push(setInterval(stun, keepaliveMs)), Math.random() * keepaliveMs));
          return flow;
        }),
      )),
    );
  }
  return {
    flows,
    keepaliveBytes: () => keepaliveBytes,
    close: () => {
      timers.forEach((t) => clearTimeout(t));
      sockets.forEach((s) => s.close());
    },
  };
}

function register(n: number, local: number, port: number): string {
  const user = `c${n}`;
  return [
    `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `To: <sip:${user}@127.0.0.1>`,
    `From: <sip:${user}@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
    `Call-ID: ${randomBytes(8).toString('hex')}@bench`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@127.0.0.1:${local}>`,
    'Expires: 600',
    'Supported: outbound, path',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** A 200 to a request: its Via, From, To (with a tag), Call-ID and CSeq copied (RFC 3261 8.2.6.2). */
function answer200(request: string): string {
  const head = request.split('\r\n\r\n')[0].split('\r\n');
  const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
  const to = head.find((l) => /^to:/i.test(l)) ?? 'To: <sip:x@y>';
  return ['SIP/2.0 200 OK', ...keep, /;tag=/.test(to) ? to : `${to};tag=b${randomBytes(3).toString('hex')}`, 'Content-Length: 0', '', ''].join('\r\n');
}

/** Sends `rate` MESSAGEs a second for `seconds` to random flows through the member; the time to each 200, ms. */
export async function messageLatencies(port: number, flows: string[], rate: number, seconds: number): Promise<{ ms: number[]; lost: number }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  const sentAt = new Map<string, number>();
  const ms: number[] = [];
  socket.on('message', (bytes) => {
    const text = bytes.toString('latin1');
    const id = /^Call-ID:\s*(\S+)/im.exec(text)?.[1];
    const t0 = id && sentAt.get(id);
    if (t0 && text.startsWith('SIP/2.0 200')) {
      ms.push(performance.now() - t0);
      sentAt.delete(id);
    }
  });
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = started + i * interval - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const flow = flows[Math.floor(Math.random() * flows.length)];
    const callId = `${randomBytes(8).toString('hex')}@sender`;
    const body = 'hello';
    const message = [
      `MESSAGE ${flow} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `To: <${flow}>`,
      `From: <sip:sender@127.0.0.1:${local}>;tag=s${i}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 MESSAGE',
      'Content-Type: text/plain',
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join('\r\n');
    sentAt.set(callId, performance.now());
    socket.send(message, port, '127.0.0.1');
  }
  // Answers still on their way get two seconds; later ones count as lost.
  const deadline = performance.now() + 2_000;
  while (sentAt.size && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const lost = sentAt.size;
  socket.close();
  return { ms, lost };
}
