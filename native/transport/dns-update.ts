// Sends one signed DNS UPDATE (RFC 2136, TSIG RFC 8945) to an authoritative server and reads
// its answer: over UDP, sent again after a second without one (an UPDATE of the same records
// applies once: adding a record that is there, or deleting one that is not, changes nothing),
// and over TCP when the answer comes back truncated. Resolves with the server's answer, or a
// sentence saying what went wrong; never throws.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { encodeUpdate, explainUpdateFailure, parseUpdateResponse, signTsig, type TsigKey, type UpdateRequest, type UpdateResponse } from '../wire/dns/update.js';

export interface DnsServer {
  host: string;
  port: number;
}

export type UpdateOutcome = { ok: true; response: UpdateResponse } | { ok: false; reason: string; response?: UpdateResponse };

export async function sendDnsUpdate(
  server: DnsServer,
  key: TsigKey,
  request: Omit<UpdateRequest, 'id'>,
  options: { timeoutMs?: number; tries?: number; now?: () => number } = {},
): Promise<UpdateOutcome> {
  const now = options.now ?? Date.now;
  const id = randomInt(0, 0x10000);
  let signed: { message: Buffer; mac: Buffer };
  try {
    signed = signTsig(encodeUpdate({ ...request, id }), key, Math.floor(now() / 1000));
  } catch (error) {
    return { ok: false, reason: `could not build the update: ${(error as Error).message}` };
  }
  let answer = await overUdp(server, signed.message, id, options.timeoutMs ?? 1_000, options.tries ?? 3);
  if ('truncated' in answer) answer = await overTcp(server, signed.message, (options.timeoutMs ?? 1_000) * 3);
  if ('reason' in answer) return { ok: false, reason: answer.reason };
  if (!('bytes' in answer)) return { ok: false, reason: 'the answer over TCP came back truncated' };
  const parsed = parseUpdateResponse(answer.bytes, key, signed.mac);
  if (!parsed.ok) return { ok: false, reason: `the server's answer could not be read (${parsed.reason})` };
  const problem = explainUpdateFailure(parsed.response, key, request.zone, Math.floor(now() / 1000));
  if (problem) return { ok: false, reason: problem, response: parsed.response };
  if (parsed.response.signed !== 'verified') return { ok: false, reason: 'the server answered without a valid TSIG signature: the answer cannot be trusted', response: parsed.response };
  return { ok: true, response: parsed.response };
}

type Raw = { bytes: Buffer } | { reason: string } | { truncated: true };

function overUdp(server: DnsServer, message: Buffer, id: number, timeoutMs: number, tries: number): Promise<Raw> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (raw: Raw) => {
      clearTimeout(timer);
      socket.close();
      resolve(raw);
    };
    const send = () => {
      if (sent++ >= tries) return finish({ reason: `no answer from ${server.host}:${server.port} after ${tries} tries` });
      socket.send(message, (error) => {
        if (error) finish({ reason: `could not send to ${server.host}:${server.port}: ${error.message}` });
      });
      timer = setTimeout(send, timeoutMs);
    };
    socket.on('message', (bytes, from) => {
      // Only the server's answer to this request: another source or ID is not it.
      if (from.port !== server.port || bytes.length < 12 || bytes.readUInt16BE(0) !== id) return;
      finish(bytes.readUInt16BE(2) & 0x0200 ? { truncated: true } : { bytes });
    });
    // ICMP port unreachable: nothing listens there.
    socket.on('error', (error) => finish({ reason: `${server.host}:${server.port}: ${(error as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'no DNS server listens there' : error.message}` }));
    socket.connect(server.port, server.host, () => send());
  });
}

function overTcp(server: DnsServer, message: Buffer, timeoutMs: number): Promise<Raw> {
  return new Promise((resolve) => {
    const socket = net.connect(server.port, server.host);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => finish({ reason: `no answer over TCP from ${server.host}:${server.port}` }), timeoutMs);
    const finish = (raw: Raw) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(raw);
    };
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length, 0);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) finish({ bytes: got.subarray(2, 2 + got.readUInt16BE(0)) });
    });
    socket.on('error', (error) => finish({ reason: `${server.host}:${server.port} over TCP: ${error.message}` }));
  });
}
