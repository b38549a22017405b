// Calls that pass through a real record-routing proxy: sipp calls a headless node by sending its
// INVITE to Kamailio, whose Request-URI names the node. Kamailio record-routes the INVITE and
// relays an in-dialog request only when it carries a Route to Kamailio, so every request after
// the INVITE proves that both ends kept the dialog's route set (RFC 3261 12.1.1, 12.1.2,
// 12.2.1.1, 16.12). sipp's scenarios check the SIP (the Record-Route in the node's 200, the Vias
// of the node's BYE, the hold answer); the control API shows what the user sees.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import type { CallView } from '../../native/control/api.js';
import { requireKamailio, startKamailio, type Kamailio } from '../peers/kamailio.js';
import { requireSipp, startSipp, type SippRun } from '../peers/sipp.js';
import { describeCalls, watchCalls } from '../support/calls.js';
import { controlOf, type NodeControl } from '../support/control.js';
import { freePort, removeDir, startNode, type NodeProcess } from '../support/node-process.js';
import { until } from '../support/poll.js';

/** The lines sipp logged as errors (a scenario's <error> says which check failed), then the end of its output. */
function sippReport(run: SippRun): string {
  const logged = run.output.split('\n').filter((line) => /^\d{4}-\d\d-\d\d\t/.test(line));
  return [...new Set(logged)].join('\n') + '\n' + run.output.slice(-2_000);
}

function assertSippPassed(run: SippRun): void {
  assert.equal(run.failed, 0, sippReport(run));
  assert.equal(run.successful, 1, sippReport(run));
  assert.equal(run.code, 0, sippReport(run));
}

describe('calls through Kamailio, a record-routing proxy', () => {
  let proxy: Kamailio | undefined;
  let node: NodeProcess | undefined;
  let control: NodeControl | undefined;

  before(() => {
    // Fail (not skip) without them: the CI script installs both.
    requireSipp();
    requireKamailio();
  });
  afterEach(async () => {
    control?.close();
    await node?.stop();
    if (node) await removeDir(node.dataDir);
    await proxy?.stop();
    node = undefined;
    control = undefined;
    proxy = undefined;
  });

  async function start(): Promise<{ proxy: Kamailio; node: NodeProcess; control: NodeControl; calls: Map<string, CallView> }> {
    proxy = await startKamailio();
    node = await startNode({ user: 'bob', args: ['--auto-answer'] });
    control = controlOf(node);
    return { proxy, node, control, calls: watchCalls(control) };
  }

  /** sipp calls the node: everything goes to the proxy (-rsa), the Request-URI names the node. */
  async function callThroughProxy(scenario: string, via: Kamailio, callee: NodeProcess, vars: Record<string, number>) {
    return startSipp({
      scenario,
      remote: `127.0.0.1:${callee.sipPort}`,
      localPort: await freePort(),
      service: 'bob',
      extraArgs: ['-rsa', via.address, ...Object.entries(vars).flatMap(([name, value]) => ['-set', name, String(value)])],
    });
  }

  it('sends its BYE through the proxy when the user hangs up', async () => {
    const { proxy: kamailio, node: callee, control: api, calls } = await start();
    // The scenario fails unless the 200 carries Kamailio's Record-Route and the BYE arrives with
    // Kamailio's Via on top of the node's.
    const sipp = await callThroughProxy('call-uac-via-proxy-node-hangs-up.xml', kamailio, callee, { proxy_port: kamailio.port, node_port: callee.sipPort });
    const active = await until('the node to answer', async () => [...calls.values()].find((v) => v.state === 'active'), 10_000, describeCalls(calls));
    // A person hangs up after the call has been up a moment; by then sipp's ACK has arrived.
    await new Promise((r) => setTimeout(r, 500));
    await api.invoke('call.hangup', { id: active.id });
    assertSippPassed(await sipp.done);
    const ended = await until('the call to end', async () => calls.get(active.id)?.state === 'ended' && calls.get(active.id), 5_000, describeCalls(calls));
    assert.equal(ended.direction, 'in');
    assert.equal(ended.endReason, 'hangup');
    const [entry] = await api.invoke('call.history', {});
    assert.equal(entry?.direction, 'in');
    assert.equal(entry?.outcome, 'answered');
  });

  it('answers a BYE that reaches it through the proxy and shows the far end hung up', async () => {
    const { proxy: kamailio, node: callee, control: api, calls } = await start();
    const sipp = await callThroughProxy('call-uac-via-proxy.xml', kamailio, callee, { proxy_port: kamailio.port });
    assertSippPassed(await sipp.done);
    const ended = await until('the node to end the call', async () => [...calls.values()].find((v) => v.state === 'ended'), 10_000, describeCalls(calls));
    assert.ok(ended.answeredAt, describeCalls(calls)());
    assert.equal(ended.endReason, 'remote-hangup');
    assert.equal((await api.invoke('call.list', {})).length, 0);
    const [entry] = await api.invoke('call.history', {});
    assert.equal(entry?.outcome, 'answered');
  });

  it('answers a hold re-INVITE that reaches it through the proxy recvonly', async () => {
    const { proxy: kamailio, node: callee, control: api, calls } = await start();
    const holds: string[] = [];
    api.subscribe(undefined, (item) => {
      if (item.type === 'call.changed' && item.data.state === 'active') holds.push(item.data.hold);
    });
    // The scenario fails unless the node's answer to sipp's a=sendonly says a=recvonly (RFC 3264 8.4).
    const sipp = await callThroughProxy('call-uac-via-proxy-hold.xml', kamailio, callee, { proxy_port: kamailio.port });
    assertSippPassed(await sipp.done);
    const ended = await until('the node to end the call', async () => [...calls.values()].find((v) => v.state === 'ended'), 10_000, describeCalls(calls));
    assert.ok(holds.includes('remote'), `the node never showed the call held by the far end: ${holds.join(' ')}`);
    assert.equal(ended.endReason, 'remote-hangup');
  });
});
