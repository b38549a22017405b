import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeStatus, ServiceView, StreamItem } from '../../../native/control/api.js';
import { OnlineState } from '../../../electron/online-state.js';
import { drawTrayIcon, OFFLINE_COLOR, ONLINE_COLOR, TRAY_ICON_SIZE } from '../../../electron/tray-icon.js';

const service = (name: string, state: ServiceView['state']): ServiceView => ({ name, state, restarts: 0 });
const status = (services: ServiceView[]): NodeStatus => ({
  version: '0.1.0',
  online: services.every((s) => s.state === 'running'),
  memory: { rssBytes: 0, heapUsedBytes: 0, externalBytes: 0 },
  sipAddress: '127.0.0.1',
  sipPort: 5060,
  transports: ['udp', 'tcp', 'tls'],
  sipTlsPort: 5061,
  tls: { certificateMismatches: 0, handshakeFailures: 0, reusedConnections: 0, connections: 0 },
  startedAt: 0,
  services,
  sip: { requestsIn: 0, responsesIn: 0, malformedDropped: 0, badRequestsAnswered: 0, serverTransactions: 0, evictedTransactions: 0 },
  routing: {
    phones: 0,
    registered: 0,
    counters: { registered: 0, challenged: 0, authFailed: 0, lockedOut: 0, proxied: 0, branches: 0, midDialogForwarded: 0, refusedPolicy: 0, loops: 0, tooManyHops: 0, notFound: 0, badRouteToken: 0, rateLimited: 0 },
    farm: { enabled: false, state: 'off', counters: { joinsAdmitted: 0, joinsRefused: 0, syncsSent: 0, syncsReceived: 0, syncsRefused: 0 } },
  },
  callSecurity: {
    allowUnencryptedPhones: true,
    encryptedCalls: 0,
    phoneEncryptedCalls: 0,
    unencryptedCalls: 0,
    refused: { downgrade: 0, 'bad-signature': 0, 'wrong-key': 0, 'malformed-key': 0, unsupported: 0, 'plain-not-allowed': 0, 'wrong-certificate': 0, 'dtls-failed': 0 },
  },
  messageSecurity: { sealedSent: 0, sealedReceived: 0, refusedUnsealed: 0, refusedSealed: 0 },
});
let seq = 0;
const event = (data: ServiceView): StreamItem => ({ type: 'service.state', seq: ++seq, epoch: 'e', data });

describe('tray online state', () => {
  it('is online only while every service runs, and says so on each change', () => {
    const changes: boolean[] = [];
    const state = new OnlineState((online) => changes.push(online));
    assert.equal(state.online, false);
    state.fromStatus(status([service('storage', 'running'), service('sip', 'running')]));
    assert.equal(state.online, true);
    state.apply(event(service('sip', 'restarting')));
    assert.equal(state.online, false);
    state.apply(event(service('sip', 'running')));
    state.apply(event(service('sip', 'running')));
    assert.deepEqual(changes, [true, false, true]);
  });

  it('goes offline when the engine stops, and asks for a reload after a reset', () => {
    const state = new OnlineState(() => undefined);
    state.fromStatus(status([service('sip', 'running')]));
    assert.equal(state.apply({ type: 'reset', epoch: 'new', seq: 0 }), 'reload');
    state.engineStopped();
    assert.equal(state.online, false);
    state.apply({ type: 'node.status', seq: ++seq, epoch: 'e', data: status([service('sip', 'running')]) });
    assert.equal(state.online, true);
  });

  it('draws a green icon online and a grey one offline, transparent around the ring', () => {
    const pixel = (bitmap: Buffer, x: number, y: number) => {
      const at = (y * TRAY_ICON_SIZE + x) * 4;
      return { b: bitmap[at], g: bitmap[at + 1], r: bitmap[at + 2], a: bitmap[at + 3] };
    };
    const online = drawTrayIcon(true);
    const offline = drawTrayIcon(false);
    assert.equal(online.length, TRAY_ICON_SIZE * TRAY_ICON_SIZE * 4);
    const mid = TRAY_ICON_SIZE / 2;
    // The top peer sits on the ring at about 18% from the top.
    const peerY = Math.round(TRAY_ICON_SIZE * 0.18);
    assert.deepEqual(pixel(online, mid, peerY), { r: ONLINE_COLOR[0], g: ONLINE_COLOR[1], b: ONLINE_COLOR[2], a: 255 });
    assert.deepEqual(pixel(offline, mid, peerY), { r: OFFLINE_COLOR[0], g: OFFLINE_COLOR[1], b: OFFLINE_COLOR[2], a: 255 });
    assert.equal(pixel(online, mid, mid).a, 0);
    assert.equal(pixel(online, 0, 0).a, 0);
  });
});
