// SIP over TLS with other stacks: Kamailio's tls module (OpenSSL) on one side, the node on the
// other. Debian's sipp has no TLS (built without OpenSSL: `-t l1` says so), so sipp speaks UDP
// to Kamailio and Kamailio carries each request over TLS: OPTIONS and a MESSAGE from sipp reach
// the node's TLS listener; a MESSAGE from the node reaches sipp through Kamailio's TLS listener.
// tshark on the node's TLS port sees TLS records and no SIP in the clear.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeSelfSignedCertificate } from '../../native/wire/crypto/certificate.js';
import { startKamailio, type Kamailio } from '../peers/kamailio.js';
import { requireSipp, runSipp, startSipp } from '../peers/sipp.js';
import { readPackets, requireTshark, startCapture, type Capture } from '../peers/tshark.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/**
 * UDP for sipp and the readiness probe, TLS for the node. A request to a URI with
 * transport=tls is relayed over TLS; one that came over TLS for the proxy itself goes on to
 * sipp's UAS over UDP. No certificate is checked either way: the node's is self-signed, and so
 * is the proxy's.
 */
function config(port: number, tlsPort: number, tlsConfig: string, sippUas: number): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
tcp_children=1
enable_tls=yes
auto_aliases=no
listen=udp:127.0.0.1:${port}
listen=tls:127.0.0.1:${tlsPort}
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("tls", "config", "${tlsConfig}")
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && uri == myself && $pr == "udp") { sl_send_reply("200", "OK"); exit; }
  if (uri == myself && $pr == "tls") { $du = "sip:127.0.0.1:${sippUas}"; }
  if (!t_relay()) sl_reply_error();
}
`;
}

describe('SIP over TLS with Kamailio and sipp', { timeout: 90_000 }, () => {
  let dir: string;
  let node: NodeProcess;
  let api: NodeControl;
  let kamailio: Kamailio;
  let tlsPort: number;
  let sippUas: number;
  let nodeTls: number;
  let capture: Capture | undefined;
  let pcap: string;

  before(async () => {
    requireSipp();
    requireTshark();
    dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-tls-kamailio-'));
    const credentials = await makeSelfSignedCertificate('kamailio');
    await writeFile(path.join(dir, 'key.pem'), credentials.keyPem);
    await writeFile(path.join(dir, 'cert.pem'), credentials.certPem);
    const tlsConfig = path.join(dir, 'tls.cfg');
    await writeFile(
      tlsConfig,
      ['[server:default]', 'method = TLSv1.2+', 'verify_certificate = no', 'require_certificate = no', `private_key = ${dir}/key.pem`, `certificate = ${dir}/cert.pem`, '', '[client:default]', 'method = TLSv1.2+', 'verify_certificate = no', 'require_certificate = no', ''].join('\n'),
    );
    tlsPort = await freePort();
    sippUas = await freePort();
    kamailio = await startKamailio({ config: (port) => config(port, tlsPort, tlsConfig, sippUas) });
    node = await startNode({ user: 'alice', args: ['--no-mdns', '--no-multicast-register'] });
    api = controlOf(node);
    nodeTls = (await api.invoke('node.status', {})).sipTlsPort;
    pcap = path.join(dir, 'tls.pcap');
    capture = await startCapture({ file: pcap, ports: [nodeTls, tlsPort], probePort: await freePort(), maxSeconds: 60 });
  });
  after(async () => {
    await capture?.stop().catch(() => undefined);
    api?.close();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
    await kamailio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sipp\'s OPTIONS reaches the node over TLS and its 200 lists MESSAGE', async () => {
    const run = await runSipp({ scenario: 'options-uac-to.xml', remote: kamailio.address, keys: { target: `sip:alice@127.0.0.1:${nodeTls};transport=tls` } });
    assert.equal(run.successful, 1, run.output.slice(-2_000) + kamailio.output().slice(-2_000));
  });

  it('sipp\'s MESSAGE reaches the node over TLS and shows in its conversation', async () => {
    const text = 'carried over TLS by Kamailio';
    const run = await runSipp({ scenario: 'message-uac-to.xml', remote: kamailio.address, keys: { target: `sip:alice@127.0.0.1:${nodeTls};transport=tls`, text } });
    assert.equal(run.successful, 1, run.output.slice(-2_000) + kamailio.output().slice(-2_000));
    const conversations = await api.invoke('im.conversations', {});
    const peer = conversations.find((c) => c.peer.startsWith('sip:sipp@'))?.peer;
    assert.ok(peer, JSON.stringify(conversations));
    const history = await api.invoke('im.history', { peer });
    assert.equal(history.at(-1)?.text.trim(), text, 'sipp\'s scenario ends its body with a line break');
    assert.equal(history.at(-1)?.encrypted, false, 'a phone\'s message is not end to end');
  });

  it('the node\'s MESSAGE reaches sipp through Kamailio\'s TLS listener, and is delivered', async () => {
    // Kamailio relays over UDP with retransmissions: sipp may bind its port after the first try.
    const uas = startSipp({ scenario: 'message-uas-200.xml', localPort: sippUas });
    const sent = await api.invoke('im.send', { to: `sip:sipp@127.0.0.1:${tlsPort};transport=tls`, text: 'to sipp over TLS' });
    const done = await uas.done;
    assert.equal(done.successful, 1, done.output.slice(-2_000) + kamailio.output().slice(-2_000));
    await until('delivered', async () => (await api.invoke('im.history', { peer: `sip:sipp@127.0.0.1:${tlsPort}` })).find((m) => m.id === sent.id)?.status === 'delivered');
  });

  it('on the wire, TLS records and no SIP in the clear', async () => {
    await capture!.stop();
    capture = undefined;
    assert.ok(readPackets(pcap, ['frame.number'], `tls.record && tcp.port == ${nodeTls}`).length > 0, 'TLS on the node\'s port');
    assert.ok(readPackets(pcap, ['frame.number'], `tls.record && tcp.port == ${tlsPort}`).length > 0, 'TLS on Kamailio\'s port');
    assert.equal(readPackets(pcap, ['frame.number'], 'sip').length, 0, 'no SIP in the clear');
  });
});
