// The overlay flags of `peerdial node`, as a user types them: each mistake gets one line that
// says what to change and a non-zero exit; a bootstrap peer that is not there yet is not one.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, removeDir, runCli, startNode, tempDataDir, type NodeProcess } from '../support/node-process.js';
import { assertOneLineError } from '../support/cli-assertions.js';
import { controlOf } from '../support/control.js';
import { until } from '../support/poll.js';
import { reachesDevice } from '../support/contacts.js';

const dirs: string[] = [];
const running: NodeProcess[] = [];
after(async () => {
  await Promise.all(running.map((n) => n.stop()));
  await Promise.all(dirs.map(removeDir));
});
const dataDir = async () => {
  const d = await tempDataDir();
  dirs.push(d);
  return d;
};


const control = (node: NodeProcess) => controlOf(node);


describe('peerdial node: overlay flags', () => {
  const node = async (...args: string[]) => runCli(['node', '--data-dir', await dataDir(), '--bind', '127.0.0.1', '--sip-port', String(await freePort()), ...args]);

  it('--help explains the overlay flags', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--overlay', '--bootstrap', '--client', '--refresh-seconds', '--replicas']) assert.match(r.stdout, new RegExp(flag));
  });

  for (const bad of ['bad_name!', '', 'x'.repeat(64), '.starts-with-a-dot']) {
    it(`refuses --overlay "${bad.length > 20 ? `${bad.slice(0, 8)}... (${bad.length} characters)` : bad}" and says what a name looks like`, async () => {
      assertOneLineError(await node('--overlay', bad), /--overlay must be a name of letters, digits, dots and dashes/);
    });
  }

  it('refuses --overlay followed by another flag (a forgotten value), in one line', async () => {
    assertOneLineError(await node('--overlay', '--client'), /--overlay/);
  });

  for (const bad of ['127.0.0.1', 'host:99999', 'host:0', ':5060', 'a b:5060']) {
    it(`refuses --bootstrap "${bad}" and shows HOST:PORT`, async () => {
      assertOneLineError(await node('--bootstrap', bad), new RegExp(`--bootstrap must be HOST:PORT.*"${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
    });
  }

  it('refuses --bootstrap without a value', async () => {
    assertOneLineError(await node('--bootstrap'), /--bootstrap/);
  });

  it('refuses --client without --bootstrap: a client needs a member', async () => {
    assertOneLineError(await node('--client'), /--client needs --bootstrap HOST:PORT/);
  });

  for (const bad of ['abc', '4', '0', '-5', '1.5', '86401']) {
    it(`refuses --refresh-seconds "${bad}" and gives the range`, async () => {
      assertOneLineError(await node(`--refresh-seconds=${bad}`), /--refresh-seconds must be a whole number from 5 to 86400/);
    });
  }

  for (const bad of ['0', '17', 'three']) {
    it(`refuses --replicas "${bad}" and gives the range`, async () => {
      assertOneLineError(await node('--replicas', bad), /--replicas must be a whole number from 1 to 16/);
    });
  }

  it('starts as a ring of one when nothing listens at --bootstrap, says so, and joins once the peer is there', async () => {
    const deadPort = await freePort();
    const lonely = await startNode({ user: 'lonely', dataDir: await dataDir(), args: ['--bootstrap', `127.0.0.1:${deadPort}`] });
    running.push(lonely);
    const api = control(lonely);
    try {
      assert.match(lonely.output(), /^overlay: peerdial as member, node [0-9a-f]{40}$/m);
      assert.match(lonely.output(), new RegExp(`bootstrap.*127\\.0\\.0\\.1:${deadPort}`), lonely.output());
      const status = await api.invoke('overlay.status', {});
      assert.equal(status.role, 'member');
      assert.deepEqual(status.successors, []);
      assert.deepEqual(status.bootstrap, [`127.0.0.1:${deadPort}`]);
      // Alone, it is the whole overlay: its own name resolves to itself.
      const self = await until('its own registration', async () => {
        const view = await api.invoke('overlay.lookup', { aor: 'lonely' });
        return view.contacts.length > 0 && view;
      }, 10_000);
      const own = await api.invoke('node.status', {});
      assert.deepEqual(self.contacts, [`sip:lonely@127.0.0.1:${own.sipTlsPort};transport=tls;pdcert=${own.tls.certificate}`]);

      // The peer it was told about comes up: it keeps trying, joins, and each finds the other.
      const peer = await startNode({ user: 'latecomer', dataDir: await dataDir(), args: ['--sip-port', String(deadPort)] });
      running.push(peer);
      const found = await until('the ring of one to join its bootstrap peer', async () => {
        const view = await api.invoke('overlay.lookup', { aor: 'sip:latecomer@peerdial' });
        return reachesDevice(view.contacts, peer.sipContact!) && view;
      }, 40_000);
      assert.equal(found.aor, 'sip:latecomer@peerdial');
      assert.equal((await api.invoke('overlay.status', {})).successors[0]?.port, deadPort);
    } finally {
      api.close();
    }
  });
});
