// Calls benchmark (`npm run bench:calls`): call setup time on loopback, by direct URI between
// two engines and by AOR through a 20-node overlay (encrypted, and plain for comparison), then the media figures of
// bench/calls-media.ts (calls one core carries, latency the engine adds), SRTP's throughput
// (bench/srtp.ts) and DTLS-SRTP handshakes (bench/dtls-srtp.ts). Writes bench/results/calls.json.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { CallView, StreamItem } from '../native/control/api.js';
import { Engine } from '../native/roots/node-engine.js';
import { removeDir, startNode, type NodeProcess } from '../test/support/node-process.js';
import { measureSrtp } from './srtp.js';
import { measureDtlsSrtp } from './dtls-srtp.js';
import { measureCodecs } from './codecs.js';
import { measureVoicemail } from './voicemail.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    'overlay-nodes': { type: 'string', default: '20' },
    out: { type: 'string', default: 'bench/results/calls.json' },
    'skip-media': { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
const OVERLAY_NODES = Number(values['overlay-nodes']);
const CHORD = { stabilizeMs: 300, fixFingersMs: 150, checkPredecessorMs: 600, replicateMs: 1_500, requestTimeoutMs: 1_500 };

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3));
};
const summary = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), samples: xs.length });

/** Dials `to` from `caller` until the call is answered, hangs up, and returns its timings. */
async function oneCall(caller: Engine, callee: Engine, to: string): Promise<{ toRingingMs: number; toAnswerMs: number; dialToRingingMs: number }> {
  const dialledAt = performance.now();
  let ringingAt = 0;
  const answered = new Promise<CallView>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${to}`)), 10_000);
    const stop = caller.api.subscribe({ epoch: caller.api.events.epoch, seq: caller.api.events.lastSeq }, (item: StreamItem) => {
      if (item.type !== 'call.changed') return;
      if (item.data.state === 'ringing' && !ringingAt) ringingAt = performance.now();
      if (item.data.state === 'active' || item.data.state === 'ended') {
        clearTimeout(timer);
        stop();
        resolve(item.data);
      }
    });
  });
  await caller.api.invoke('call.dial', { to });
  const view = await answered;
  if (view.state !== 'active' || !view.setup?.toRingingMs || !view.setup.toAnswerMs) throw new Error(`call to ${to} ended: ${view.endMessage}`);
  await caller.api.invoke('call.hangup', { id: view.id });
  // Let the callee see the BYE before the next call.
  await new Promise((r) => setTimeout(r, 5));
  void callee;
  return { toRingingMs: view.setup.toRingingMs, toAnswerMs: view.setup.toAnswerMs, dialToRingingMs: ringingAt - dialledAt };
}

/** The callee answers each call the moment it rings, as a user's click would (no --auto-answer delay). */
function answerAtOnce(callee: Engine): void {
  callee.api.subscribe(undefined, (item) => {
    if (item.type === 'call.changed' && item.data.state === 'incoming') void callee.api.invoke('call.answer', { id: item.data.id }).catch(() => undefined);
  });
}

async function measure(caller: Engine, callee: Engine, to: string, calls: number) {
  const ringing: number[] = [];
  const answer: number[] = [];
  const dialToRinging: number[] = [];
  for (let i = 0; i < 5; i++) await oneCall(caller, callee, to); // warm-up
  for (let i = 0; i < calls; i++) {
    const t = await oneCall(caller, callee, to);
    ringing.push(t.toRingingMs);
    answer.push(t.toAnswerMs);
    dialToRinging.push(t.dialToRingingMs);
  }
  return { ringing: summary(ringing), answer: summary(answer), dialToRinging: summary(dialToRinging) };
}

/** opus.encodePerSec and opus.decodePerSec (issue 15's keys) at the default complexity, and G.722's. */
function codecFigures() {
  const measured = measureCodecs();
  return {
    opus: { encodePerSec: measured.opus.encodePerSec, decodePerSec: measured.opus.decodePerSec, complexity: measured.opus.complexity, byComplexity: measured.opus.byComplexity },
    g722: { encodePerSec: measured.g722.encodePerSec, decodePerSec: measured.g722.decodePerSec },
  };
}

async function main() {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'pd-bench-calls-'));
    dirs.push(d);
    return d;
  };

  // Direct: two engines on loopback.
  const caller = await Engine.start({ dataDir: await tmp(), bind: '127.0.0.1', user: { userName: 'caller' } });
  const callee = await Engine.start({ dataDir: await tmp(), bind: '127.0.0.1', user: { userName: 'callee' } });
  answerAtOnce(callee);
  const direct = await measure(caller, callee, callee.sipContact!, CALLS);
  await caller.stop();
  await callee.stop();
  console.log('direct', JSON.stringify(direct));

  // By AOR: OVERLAY_NODES - 2 node processes form the ring; caller and callee join it.
  const members: NodeProcess[] = [];
  const first = await startNode({ user: 'm0', env: { PEERDIAL_CHORD: JSON.stringify(CHORD) } });
  members.push(first);
  const bootstrap = `127.0.0.1:${first.sipPort}`;
  for (let i = 1; i < OVERLAY_NODES - 2; i++) {
    members.push(await startNode({ user: `m${i}`, args: ['--bootstrap', bootstrap], env: { PEERDIAL_CHORD: JSON.stringify(CHORD) } }));
  }
  const join = { bind: '127.0.0.1', bootstrap: [bootstrap], overlayConfig: CHORD, registrationRefreshMs: 5_000 };
  // Two pairs of users in the same ring: one calls encrypted (as every call between users is),
  // the other plain (an engine option for benchmarks only), to see what encryption adds.
  const aorCaller = await Engine.start({ dataDir: await tmp(), user: { userName: 'caller' }, ...join });
  const aorCallee = await Engine.start({ dataDir: await tmp(), user: { userName: 'callee' }, ...join });
  const plainCaller = await Engine.start({ dataDir: await tmp(), user: { userName: 'plaincaller' }, plainCallsForBenchmark: true, ...join });
  const plainCallee = await Engine.start({ dataDir: await tmp(), user: { userName: 'plaincallee' }, plainCallsForBenchmark: true, ...join });
  answerAtOnce(aorCallee);
  answerAtOnce(plainCallee);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = await aorCaller.api.invoke('overlay.lookup', { aor: 'callee' }).catch(() => undefined);
    const foundPlain = await plainCaller.api.invoke('overlay.lookup', { aor: 'plaincallee' }).catch(() => undefined);
    const backAgain = await aorCallee.api.invoke('overlay.lookup', { aor: 'caller' }).catch(() => undefined);
    const ring = (await aorCaller.api.invoke('overlay.status', {})).successors.length;
    if (found?.contacts.length && foundPlain?.contacts.length && backAgain?.contacts.length && ring > 0) break;
    if (Date.now() > deadline) throw new Error('the overlay did not form in 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  // Settle the fingers so lookups take their steady-state number of hops.
  await new Promise((r) => setTimeout(r, 5_000));
  const hops: number[] = [];
  for (let i = 0; i < 20; i++) hops.push((await aorCaller.api.invoke('overlay.lookup', { aor: 'callee' })).hops);
  const aorCalls = Math.max(50, Math.floor(CALLS / 2));
  const aor = await measure(aorCaller, aorCallee, 'callee', aorCalls);
  console.log('aor (encrypted)', JSON.stringify(aor));
  const plain = await measure(plainCaller, plainCallee, 'plaincallee', aorCalls);
  console.log('aor (plain)', JSON.stringify(plain));
  // Voicemail through the same ring: the recipient reads its mailbox only when told to here.
  const listener = await Engine.start({ dataDir: await tmp(), user: { userName: 'listener' }, mailboxPollMs: 3_600_000, ...join });
  const vmDeadline = Date.now() + 30_000;
  while (!(await aorCaller.overlay.lookupAor('listener').catch(() => undefined))?.x25519) {
    if (Date.now() > vmDeadline) throw new Error('the voicemail listener was not found in 30 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  const voicemail = await measureVoicemail(aorCaller, listener);
  console.log('voicemail', JSON.stringify(voicemail));
  await listener.stop();
  const encryptedCalls = (await aorCaller.api.invoke('call.security', {})).encryptedCalls;
  const plainCalls = (await plainCaller.api.invoke('call.security', {})).unencryptedCalls;
  if (encryptedCalls < aorCalls || plainCalls < aorCalls) throw new Error(`calls not as intended: ${encryptedCalls} encrypted, ${plainCalls} plain`);
  await Promise.all([aorCaller, aorCallee, plainCaller, plainCallee].map((e) => e.stop()));
  await Promise.all(members.map((m) => m.stop()));
  await Promise.all(members.map((m) => removeDir(m.dataDir)));

  let media: Record<string, unknown> = {};
  if (!values['skip-media']) {
    const out = path.join(await tmp(), 'media.json');
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(path.dirname(new URL(import.meta.url).pathname), 'calls-media.ts'), '--json', out], { stdio: 'inherit' });
    if (run.status !== 0) throw new Error('bench/calls-media.ts failed');
    media = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>;
  }

  const report = {
    benchmark: 'calls',
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model },
    setupTo180Ms: { direct: direct.ringing, aor: aor.ringing, aorPlain: plain.ringing },
    /** aor and encrypted are the same calls (by AOR, encrypted end to end); aorPlain the same path without encryption. */
    setupTo200Ms: { direct: direct.answer, aor: aor.answer, encrypted: aor.answer, aorPlain: plain.answer },
    /** What encryption adds to setup by AOR, p50 (target <= 30 ms on loopback). */
    encryptionAddsTo200MsP50: Number((aor.answer.p50 - plain.answer.p50).toFixed(3)),
    /** From the user's dial to ringing, the overlay lookup included (INVITE-sent figures above exclude it). */
    dialTo180Ms: { direct: direct.dialToRinging, aor: aor.dialToRinging },
    overlay: { nodes: OVERLAY_NODES, meanLookupHops: hops.reduce((a, b) => a + b, 0) / hops.length },
    /** SRTP packets one core protects and unprotects a second (200 calls need 10,000 of each). */
    srtp: measureSrtp(),
    /** DTLS-SRTP with phones: one handshake's CPU time (both ends in one process) and handshakes of one side per second on a core. */
    dtlsSrtp: await measureDtlsSrtp(),
    /** A 30 s voice message stored through the ring and taken by its recipient (bench/voicemail.ts; target: stored in <= 2 s). */
    voicemail: { ...voicemail, overlayNodes: OVERLAY_NODES },
    /** Voice codecs on one core, 20 ms frames of speech-like audio (bench/codecs.ts). */
    ...codecFigures(),
    targets: { setupTo180MsAorP50: 20, concurrentCallsPerCore: 1000, concurrentEncryptedCallsPerCore: 200, concurrentOpusCallsPerCore: 300, encryptionAddsTo200MsP50: 30, engineAddedLatencyMs: 5, mouthToEarMs: 60, voicemailStoreMs: 2000 },
    ...media,
    notes: [
      'Setup times are measured in the caller engine from the INVITE leaving its SIP stack to the 180 and the 200 arriving; callee answers as soon as it rings.',
      'dialTo180Ms.aor adds the overlay lookup of the callee (iterative Chord routing over SIP) before the INVITE.',
      'By AOR every call between users is encrypted end to end; aorPlain is a second pair of users in the same ring started with plainCallsForBenchmark (an engine option, not a flag), measured right after. The encrypted callee looks the caller up in the overlay to check its key before it rings, which is most of what encryption adds.',
      ...(Array.isArray(media.notes) ? (media.notes as string[]) : typeof media.notes === 'string' ? [media.notes] : []),
    ],
  };
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  await mkdir(path.dirname(values.out!), { recursive: true });
  await writeFile(values.out!, JSON.stringify(report, null, 2) + '\n');
  console.log(JSON.stringify(report, null, 2));
}

await main();
