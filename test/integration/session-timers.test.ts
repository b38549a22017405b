// RFC 4028 session timers, against a bare UDP phone that this test drives: a call whose peer
// stops refreshing ends as "connection lost" even when no media would show it (the phone sends
// no RTP at all), the node refreshes when it is the refresher, and it answers an interval below
// its minimum with 422. The engine's intervals are shortened to seconds for the test.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import { EngineHarness } from '../support/engines.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

const SDP = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40998 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');

interface Seen {
  start: string;
  text: string;
  header(name: string): string | undefined;
}

/** A phone on a UDP socket: answers INVITEs (or not) and BYEs, keeps everything it gets. */
class BarePhone {
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
    const body = method === 'INVITE' && !forgot ? SDP : '';
    const to = /;tag=/.test(header('To') ?? '') ? header('To') : `${header('To')};tag=ph2`;
    const response = [
      forgot ? 'SIP/2.0 481 Call/Transaction Does Not Exist' : 'SIP/2.0 200 OK',
      `Via: ${header('Via')}`,
      `From: ${header('From')}`,
      `To: ${to}`,
      `Call-ID: ${header('Call-ID')}`,
      `CSeq: ${header('CSeq')}`,
      `Contact: <sip:deskphone@127.0.0.1:${this.port}>`,
      ...(forgot ? [] : extra),
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    this.socket.send(response, from.port, from.address);
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

describe('session timers (RFC 4028)', () => {
  let node: Engine;
  let phone: BarePhone;
  const calls = new Map<string, CallView>();

  before(async () => {
    node = await engines.start('nora', { sessionExpiresS: 4, minSessionExpiresS: 2, autoAnswer: true });
    node.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') calls.set(item.data.id, item.data as CallView);
    });
  });
  afterEach(() => phone?.close());

  it('a phone that calls with Session-Expires and then never refreshes: the node ends the call once the interval runs out', async () => {
    phone = await BarePhone.open();
    phone.invite(node, ['Supported: timer', 'Require: timer', 'Session-Expires: 3;refresher=uac']);
    const answered = await until('the 200 to the phone', async () => phone.seen.find((m) => m.start.startsWith('SIP/2.0 200')));
    assert.equal(answered.header('Session-Expires'), '3;refresher=uac', 'the phone refreshes, as it asked');
    assert.equal(answered.header('Require'), 'timer');
    const startedAt = Date.now();
    const ended = await until('the call ends', async () => [...calls.values()].find((c) => c.peer.includes('deskphone') && c.state === 'ended'), 10_000);
    const after = (Date.now() - startedAt) / 1000;
    assert.equal(ended.endReason, 'connection-lost');
    assert.match(ended.endMessage ?? '', /no session refresh/);
    // RFC 4028 10: the interval less a third of it (or 32 s): 2 s of the 3.
    assert.ok(after > 1.5 && after < 4, `ended after ${after.toFixed(1)} s`);
    await until('the BYE at the phone', async () => phone.seen.find((m) => m.start.startsWith('BYE ')));
    calls.clear();
  });

  it('as the refresher, the node sends a re-INVITE every half interval, and the call goes on', async () => {
    phone = await BarePhone.open();
    phone.answeredExpires = '4;refresher=uac';
    const { id } = await node.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
    const invite = await until('the INVITE', async () => phone.seen.find((m) => m.start.startsWith('INVITE ') && !/;tag=/.test(m.header('To') ?? '')));
    assert.match(invite.header('Supported') ?? '', /timer/);
    assert.equal(invite.header('Session-Expires'), '4');
    const refreshes = await until('two refreshes', async () => {
      const reinvites = phone.seen.filter((m) => m.start.startsWith('INVITE ') && /;tag=/.test(m.header('To') ?? ''));
      return reinvites.length >= 2 ? reinvites : undefined;
    }, 10_000);
    assert.equal(refreshes[0].header('Session-Expires'), '4;refresher=uac');
    assert.equal(calls.get(id)?.state, 'active', 'refreshed calls go on');
    await node.api.invoke('call.hangup', { id });
    calls.clear();
  });

  it('as the refresher, a refresh the phone no longer knows (481) ends the call', async () => {
    phone = await BarePhone.open();
    phone.answeredExpires = '2;refresher=uac';
    const { id } = await node.api.invoke('call.dial', { to: `sip:deskphone@127.0.0.1:${phone.port}` });
    await until('the call is up', async () => (calls.get(id)?.state === 'active' ? true : undefined));
    phone.reinviteStatus = 481;
    const ended = await until('the call ends', async () => (calls.get(id)?.state === 'ended' ? calls.get(id) : undefined), 5_000);
    assert.equal(ended!.endReason, 'connection-lost');
    assert.match(ended!.endMessage ?? '', /481/);
    calls.clear();
  });

  it('an interval below the minimum gets 422 with Min-SE', async () => {
    phone = await BarePhone.open();
    phone.invite(node, ['Supported: timer', 'Session-Expires: 1']);
    const refused = await until('the 422', async () => phone.seen.find((m) => m.start.startsWith('SIP/2.0 422')));
    assert.equal(refused.header('Min-SE'), '2');
  });
});
