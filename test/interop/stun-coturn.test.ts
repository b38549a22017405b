// Peerdial's STUN server (on its SIP port) answers coturn's RFC 5780 clients: turnutils_stunclient
// (Binding, CHANGE-REQUEST, RESPONSE-PORT) and turnutils_natdiscovery (the mapping and filtering
// tests), for a member with two addresses of its own on loopback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { removeDir, startNode, type NodeProcess } from '../support/node-process.js';

const exec = promisify(execFile);

/** coturn's clients wait forever for an answer that never comes: each runs under a deadline. */
async function run(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await exec('timeout', ['20', command, ...args], { maxBuffer: 1 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { code?: number; stdout?: string };
    throw new Error(`${command} ${args.join(' ')} exited with ${e.code}${e.code === 124 ? ' (no answer within 20 s)' : ''}:\n${e.stdout ?? ''}`);
  }
}

describe('STUN interop with coturn clients', () => {
  let member: NodeProcess;
  before(async () => {
    member = await startNode({ args: ['--bind', '127.0.0.1', '--stun-other-address', '127.0.0.2', '--no-mdns', '--no-multicast-register'] });
  });
  after(async () => {
    await member?.stop();
    if (member) await removeDir(member.dataDir);
  });

  it('turnutils_stunclient gets its three answers: plain, from the other address and port, and to another port', async () => {
    const out = await run('turnutils_stunclient', ['-p', String(member.sipPort), '127.0.0.1']);
    assert.match(out, /RFC 5780 response 3/, out);
    const origins = [...out.matchAll(/Response origin: : (\S+)/g)].map((m) => m[1]);
    assert.ok(origins.includes(`127.0.0.1:${member.sipPort}`), out);
    assert.ok(origins.some((o) => o.startsWith('127.0.0.2:') && o !== `127.0.0.2:${member.sipPort}`), `an answer came from the other address and port:\n${out}`);
    assert.match(out, /Other addr: : 127\.0\.0\.2:\d+/);
  });

  it('turnutils_natdiscovery finds what loopback is: endpoint-independent mapping and filtering', async () => {
    const out = await run('turnutils_natdiscovery', ['-m', '-f', '-p', String(member.sipPort), '127.0.0.1']);
    assert.match(out, /NAT with Endpoint Independent Mapping!/, out);
    assert.match(out, /NAT with Endpoint Independent Filtering!/, out);
  });
});
