// The origin's DNS round robin: which rescuers go into the site's name and when they leave, what
// a failed update does (redirects only, said on the status page, tried again), and that a
// crash's leftovers are deleted at the next start. The server is a stand-in that records each
// update; rescue-dns.test.ts runs the same against knot.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DnsRoundRobin } from '../../../native/services/origin/dns-round-robin.js';
import type { UpdateOutcome } from '../../../native/transport/dns-update.js';
import { createLogger } from '../../../native/log.js';
import { FakeClock } from '../../support/fake-clock.js';

type Sent = { add: string[]; remove: string[] };

function setup(options: { answers?: UpdateOutcome[]; statePath?: string; sitePort?: number } = {}) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const events: string[] = [];
  const answers = [...(options.answers ?? [])];
  const dns = new DnsRoundRobin({
    server: { host: '192.0.2.53', port: 53 },
    key: { name: 'peerdial-origin', algorithm: 'hmac-sha256', secret: Buffer.alloc(32) },
    zone: 'example.org',
    name: 'www.example.org',
    ttl: 30,
    sitePort: () => options.sitePort ?? 80,
    statePath: options.statePath,
    timers: clock,
    log: createLogger('test', 'silent'),
    onEvent: (text) => events.push(text),
    now: () => clock.now,
    retryMs: 10_000,
    send: async (_server, _key, request) => {
      sent.push({ add: request.add.map((a) => a.address), remove: request.remove.map((a) => a.address) });
      return answers.shift() ?? { ok: true, response: { id: 1, rcode: 0, tsigError: 0, signed: 'verified' } };
    },
  });
  return { dns, clock, sent, events };
}

const settle = () => new Promise((r) => setImmediate(r));
const refused: UpdateOutcome = { ok: false, reason: 'the server says the TSIG signature is wrong (BADSIG): the secret of key "peerdial-origin" differs from the server\'s' };

describe('DNS round robin at the origin', () => {
  it('checks the key at start, adds each rescuer serving on the site\'s port, and removes one that stops', async () => {
    const { dns, sent, events } = setup();
    await dns.start();
    assert.deepEqual(sent, [{ add: [], remove: [] }], 'an empty update checks the key');
    assert.equal(dns.view().state, 'ready');
    await dns.setRescuers(['http://198.51.100.7', 'http://198.51.100.8:80']);
    await settle();
    assert.deepEqual(sent[1], { add: ['198.51.100.7', '198.51.100.8'], remove: [] });
    assert.deepEqual(dns.view().addresses, ['198.51.100.7', '198.51.100.8']);
    await dns.setRescuers(['http://198.51.100.8:80']);
    await settle();
    assert.deepEqual(sent[2], { add: [], remove: ['198.51.100.7'] });
    await dns.setRescuers(['http://198.51.100.8:80']);
    await settle();
    assert.equal(sent.length, 3, 'no update when nothing changed');
    assert.ok(events.some((e) => e.includes('DNS: removed 198.51.100.7 from www.example.org')));
    await dns.stop();
    assert.deepEqual(sent[3], { add: [], remove: ['198.51.100.8'] }, 'stopping takes every address out');
    assert.deepEqual(dns.view().addresses, []);
  });

  it('a rescuer on another port, or known by a name, stays redirect-only, and the log says why', async () => {
    const { dns, sent, events } = setup();
    await dns.start();
    await dns.setRescuers(['http://198.51.100.7:8099', 'http://rescue.example.net:80']);
    await settle();
    assert.equal(sent.length, 1, 'nothing to add');
    assert.ok(events.some((e) => /198\.51\.100\.7:8099 is not added to www\.example\.org: it serves on port 8099, the site on 80/.test(e)));
    assert.ok(events.some((e) => /rescue\.example\.net.*a name, not an IP address/.test(e)));
  });

  it('a refused update leaves the load to redirects, says why, and is tried again until it works', async () => {
    const { dns, clock, sent, events } = setup({ answers: [{ ok: true, response: { id: 1, rcode: 0, tsigError: 0, signed: 'verified' } }, refused, refused] });
    await dns.start();
    await dns.setRescuers(['http://198.51.100.7']);
    await settle();
    const view = dns.view();
    assert.equal(view.state, 'failed');
    assert.match(view.lastError!, /BADSIG/);
    assert.deepEqual(view.addresses, [], 'nothing is counted as in the zone');
    assert.equal(events.filter((e) => e.includes('moving load by HTTP redirects only')).length, 1);
    clock.advance(10_000);
    await settle();
    assert.equal(sent.length, 3, 'tried again after 10 s');
    assert.equal(events.filter((e) => e.includes('moving load by HTTP redirects only')).length, 1, 'the same failure is said once');
    clock.advance(10_000);
    await settle();
    assert.equal(dns.view().state, 'ready');
    assert.deepEqual(dns.view().addresses, ['198.51.100.7']);
    assert.ok(events.some((e) => e.includes('work again')));
    assert.equal(dns.view().failures, 2);
  });

  it('addresses a crash left in the zone are deleted at the next start', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'peerdial-dns-rr-'));
    try {
      const statePath = path.join(dir, 'dns-round-robin.json');
      const first = setup({ statePath });
      await first.dns.start();
      await first.dns.setRescuers(['http://198.51.100.7']);
      await settle();
      assert.deepEqual(JSON.parse(await readFile(statePath, 'utf8')), { name: 'www.example.org', addresses: ['198.51.100.7'] });
      // No stop(): the process died.
      const second = setup({ statePath });
      await second.dns.start();
      assert.deepEqual(second.sent[0], { add: [], remove: ['198.51.100.7'] });
      await writeFile(statePath, 'not json');
      const third = setup({ statePath });
      await third.dns.start();
      assert.deepEqual(third.sent[0], { add: [], remove: [] }, 'a damaged state file is ignored');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
