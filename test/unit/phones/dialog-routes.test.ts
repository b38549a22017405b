import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DialogRoutes } from '../../../native/services/phones/dialog-routes.js';
import type { SipStack } from '../../../native/services/sip/index.js';
import { parseSipUri } from '../../../native/wire/sip/uri.js';

const stack = { host: '192.0.2.10', port: 5060 } as unknown as SipStack;
const routes = () => new DialogRoutes({ stack, counters: { midDialogForwarded: 0, badRouteToken: 0, tooManyHops: 0 } });
const flow = { protocol: 'udp' as const, address: '203.0.113.5', port: 41000 };

describe('Record-Route tokens', () => {
  it('a route made before a restart still verifies after it, with the secret kept; one made under another secret does not', () => {
    const secret = randomBytes(32);
    const before = routes();
    before.useSecret(secret);
    const user = parseSipUri(before.recordRoute(flow).uri)!.user!;
    const after = routes();
    after.useSecret(secret);
    assert.deepEqual(after.flowOfToken(user), flow);
    assert.equal(routes().flowOfToken(user), undefined, 'a fresh secret');
    const [encoded] = user.split('.');
    assert.equal(after.flowOfToken(`${encoded}.AAAAAAAAAAA`), undefined, 'a forged MAC');
    assert.throws(() => after.useSecret(randomBytes(8)));
  });
});
