// SIP between Peerdial users travels over TLS, to the certificate each node published in its
// signed binding record: what a receiver sees (the transport and the certificate its peer
// presented), connection reuse both ways (RFC 5923), and an impostor on a user's address with a
// certificate of its own, which gets neither the call nor the message.
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import type { Engine } from '../../native/roots/node-engine.js';
import type { Remote } from '../../native/transport/sip-sockets.js';
import { makeSelfSignedCertificate } from '../../native/wire/crypto/certificate.js';
import type { SipRequest } from '../../native/wire/sip/message.js';
import { EngineHarness } from '../support/engines.js';
import { until } from '../support/poll.js';

const engines = new EngineHarness();
after(() => engines.stopAll());

/** Every request `engine` receives: its method, and the transport and certificate it came with. */
function watchRequests(engine: Engine): Array<{ method: string; remote: Remote }> {
  const seen: Array<{ method: string; remote: Remote }> = [];
  engine.sip.addForwarder({
    request: (request: SipRequest, remote: Remote) => {
      seen.push({ method: request.method, remote });
      return false;
    },
    response: () => false,
  });
  return seen;
}

describe('SIP over TLS between Peerdial users', () => {
  let ann: Engine;
  let ben: Engine;
  let atAnn: Array<{ method: string; remote: Remote }>;
  let atBen: Array<{ method: string; remote: Remote }>;

  before(async () => {
    [ann, ben] = await engines.pair('ann', 'ben');
    atAnn = watchRequests(ann);
    atBen = watchRequests(ben);
  });

  it('finds ben at his TLS listener, pinned to the certificate his node presents', async () => {
    const found = await ann.api.invoke('overlay.lookup', { aor: 'ben' });
    const status = await ben.api.invoke('node.status', {});
    assert.ok(status.transports.includes('tls'));
    assert.equal(found.contacts[0], `sip:ben@127.0.0.1:${status.sipTlsPort};transport=tls;pdcert=${status.tls.certificate}`);
  });

  it('a message arrives over TLS from ann\'s own certificate, and ben\'s answer reuses her connection', async () => {
    const sent = await ann.api.invoke('im.send', { to: 'ben', text: 'over tls' });
    await until('delivered', async () => (await ann.api.invoke('im.history', { peer: 'sip:ben@peerdial', limit: 5 })).find((m) => m.id === sent.id)?.status === 'delivered');
    const message = atBen.find((r) => r.method === 'MESSAGE');
    assert.equal(message?.remote.protocol, 'tls');
    assert.equal(message?.remote.certificate, ann.sip.certificate, 'ann presented the certificate her record publishes');
    // Ben's answer goes the other way, to ann's TLS listener: on the connection she opened (RFC 5923).
    await ben.api.invoke('im.send', { to: 'ann', text: 'back over the same connection' });
    await until('ben\'s message at ann', async () => atAnn.some((r) => r.method === 'MESSAGE'));
    assert.equal(atAnn.find((r) => r.method === 'MESSAGE')?.remote.protocol, 'tls');
    assert.ok((await ben.api.invoke('node.status', {})).tls.reusedConnections >= 1, 'ben reused ann\'s connection');
  });

  it('a call: INVITE, ACK and BYE all over TLS', async () => {
    const rang: CallView[] = [];
    ben.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') rang.push(item.data as CallView);
    });
    const dialled = await ann.api.invoke('call.dial', { to: 'ben' });
    const ringing = await until('ringing at ben', async () => rang.find((c) => c.state === 'incoming'));
    await ben.api.invoke('call.answer', { id: ringing.id });
    await until('the call is up at ann', async () => (await ann.api.invoke('call.list', {})).find((c) => c.id === dialled.id)?.state === 'active');
    await ben.api.invoke('call.hangup', { id: ringing.id });
    await until('ended at ann', async () => !(await ann.api.invoke('call.list', {})).some((c) => c.id === dialled.id));
    const methods = (seen: typeof atBen) => seen.filter((r) => ['INVITE', 'ACK', 'BYE'].includes(r.method)).map((r) => `${r.method}/${r.remote.protocol}`);
    assert.deepEqual(methods(atBen), ['INVITE/tls', 'ACK/tls']);
    assert.deepEqual(methods(atAnn), ['BYE/tls']);
  });
});

describe('an impostor at a user\'s address', () => {
  let ann: Engine;
  let carol: Engine;
  let impostor: tls.Server;
  const impostorHeard: Buffer[] = [];

  before(async () => {
    [ann, carol] = await engines.pair('ann', 'carol');
    const port = carol.sip.tlsPort!;
    await carol.stop();
    // Carol's binding stays in the overlay; someone else now answers at her TLS address, with a certificate of their own.
    const credentials = await makeSelfSignedCertificate('carol');
    impostor = tls.createServer({ key: credentials.keyPem, cert: credentials.certPem }, (socket) => socket.on('data', (d) => impostorHeard.push(d)));
    await new Promise<void>((resolve) => impostor.listen(port, '127.0.0.1', resolve));
  });
  after(() => new Promise<void>((resolve) => impostor.close(() => resolve())));

  it('gets no call: ann\'s call ends "could not be secured", counted', async () => {
    const views: CallView[] = [];
    ann.api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed') views.push(item.data as CallView);
    });
    const dialled = await ann.api.invoke('call.dial', { to: 'carol' });
    const ended = await until('the call ended', async () => views.find((c) => c.id === dialled.id && c.state === 'ended'));
    assert.equal(ended.endReason, 'not-secured');
    assert.match(ended.endMessage ?? '', /another certificate than the one its owner published/);
    const status = await ann.api.invoke('node.status', {});
    assert.equal(status.callSecurity.refused['wrong-certificate'], 1);
    assert.ok(status.tls.certificateMismatches >= 1);
  });

  it('gets no message: ann\'s text is kept sealed in carol\'s mailbox instead', async () => {
    const before = (await ann.api.invoke('node.status', {})).tls.certificateMismatches;
    const sent = await ann.api.invoke('im.send', { to: 'carol', text: 'for carol only' });
    const settled = await until('the message settled', async () => {
      const m = (await ann.api.invoke('im.history', { peer: 'sip:carol@peerdial', limit: 5 })).find((x) => x.id === sent.id);
      return m && m.status !== 'sending' ? m : undefined;
    });
    assert.equal(settled.status, 'stored');
    assert.equal((await ann.api.invoke('node.status', {})).tls.certificateMismatches, before + 1);
    assert.equal(Buffer.concat(impostorHeard).length, 0, 'not one byte of SIP reached the impostor');
  });
});
