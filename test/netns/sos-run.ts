// Run inside a test LAN's namespace: one SOS from a site of its own (a fresh key) to a rescue
// server, naming host names for DNS round robin. Prints the rescue server's answer as one JSON
// line: {"type", "reason"?}.
// Usage: sos-run.ts BIND-IP RESCUER-SIP-URI SITE-URL HOST-CSV
import { generateKeyPairSync } from 'node:crypto';
import { createLogger } from '../../native/log.js';
import { SipStack } from '../../native/services/sip/index.js';
import { realTimers } from '../../native/transport/clock.js';
import { decodeBody } from '../../native/wire/sip/message.js';
import { decodeDsrp, DSRP_CONTENT_TYPE, encodeDsrp, originIdOf, signDsrp, type SosMessage } from '../../native/wire/rescue/dsrp.js';

const [bind, to, site, hosts] = process.argv.slice(2);
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const spki = publicKey.export({ format: 'der', type: 'spki' });
const raw = spki.subarray(spki.length - 32);
const stack = new SipStack({ bind, port: 0, advertisedHost: bind, timers: realTimers, log: createLogger('sos-run', 'error') });
await stack.start();
const sos = signDsrp<SosMessage>(
  { type: 'sos', origin: originIdOf(raw), at: Date.now(), site, upstream: `http://${bind}:80/`, sip: `sip:origin@${bind}:${stack.port}`, wantRps: 50, meanBytes: 20_000, hosts: hosts.split(',') } as never,
  raw,
  privateKey.export({ format: 'der', type: 'pkcs8' }),
);
const outcome = await stack.request({ method: 'MESSAGE', to, from: `sip:origin@${bind}`, contentType: DSRP_CONTENT_TYPE, body: encodeDsrp(sos), timeoutMs: 5_000 });
await stack.stop();
if (outcome.kind !== 'final' || outcome.response.status !== 200) {
  process.stdout.write(JSON.stringify({ type: 'failed', reason: outcome.kind === 'final' ? `${outcome.response.status}` : outcome.kind }) + '\n');
} else {
  const decoded = decodeDsrp(decodeBody(outcome.response.content), Date.now());
  process.stdout.write(JSON.stringify(decoded.ok ? { type: decoded.message.type, reason: (decoded.message as { reason?: string }).reason } : { type: 'undecodable', reason: decoded.reason }) + '\n');
}
