// Kamailio as the server of another SIP domain on a test LAN: a registrar for its own users
// (no authentication: the test's baresip registers there) and a record-routing stateful proxy
// that sends requests for other domains where DNS says (RFC 3263 SRV, trying the next target
// when one does not answer: use_dns_failover).
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { requireKamailio } from '../peers/kamailio.js';
import { runIn, spawnIn, type LanHost } from './lan.js';

export interface LabKamailio {
  address: string;
  output(): string;
  stop(): Promise<void>;
}

function config(address: string, domain: string): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:${address}:5060
alias="${domain}"
dns_srv_lb=no
use_dns_failover=on
dns_try_naptr=yes
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
# A target that gives no answer within 2 s gives way to the next one DNS named.
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 60000)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { route(RELAY); exit; }
    if (is_method("ACK")) { if (t_check_trans()) route(RELAY); exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
  t_check_trans();
  # A phone's outbound proxy setting preloads a Route naming this proxy: it is spent here.
  remove_hf("Route");
  if (is_method("REGISTER")) { if (!save("location")) sl_reply_error(); exit; }
  if (is_method("INVITE|SUBSCRIBE")) record_route();
  if (uri == myself) {
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  }
  route(RELAY);
}
route[RELAY] {
  if (!t_relay()) sl_reply_error();
  exit;
}
`;
}

export async function startLabKamailio(host: LanHost, domain: string): Promise<LabKamailio> {
  requireKamailio();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-lab-kamailio-'));
  const cfg = path.join(dir, 'kamailio.cfg');
  await writeFile(cfg, config(host.address, domain));
  const child: ChildProcess = spawnIn(host.ns, 'kamailio', ['-f', cfg, '-P', path.join(dir, 'kamailio.pid'), '-Y', dir, '-m', '64', '-M', '8', '-DD', '-E'], { cwd: dir });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kamailio exited with ${child.exitCode}:\n${out}`);
    const listening = await runIn(host.ns, 'ss', ['-Hlun', 'sport = :5060']).catch(() => ({ stdout: '' }));
    if (listening.stdout.trim()) break;
    if (Date.now() > deadline) throw new Error(`kamailio did not listen on ${host.address}:5060 within 10 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `${host.address}:5060`,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      // Its workers share the namespace, which the LAN's teardown empties.
      await rm(dir, { recursive: true, force: true });
    },
  };
}
