// What the ID puzzle (native/wire/overlay/id-puzzle.ts) costs an honest node and a sybil attacker
// on this machine's cores: the puzzle's hash rate on one core (the node's own solver), the time
// one honest ID takes, the time one check takes, and how many nodes one core can place inside a
// chosen arc in an hour: the arc of the `replicas` nodes just before a chosen key in a 10,000-node
// ring, where a node becomes the key's holder or one of the last hops of every lookup of it.
// The formula (2^D / share hashes per position) is checked by sampling a real search at a low
// difficulty against the arcs of 20 keys in a ring of 10,000 IDs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { DEFAULT_CHORD_CONFIG } from '../native/proto/overlay/chord-node.js';
import { checkIdProof, idWork, leadingZeroBits, nodeIdFromProof, solveIdRange } from '../native/wire/overlay/id-puzzle.js';
import { idToHex, inHalfOpenInterval, RING_SIZE, type NodeId } from '../native/wire/overlay/node-id.js';
import { seededRandom } from '../test/sim/sim-network.js';

const RING_NODES = 10_000;

function randomId(random: () => number): NodeId {
  let id = 0n;
  for (let i = 0; i < 10; i++) id = (id << 16n) | BigInt(Math.floor(random() * 65536));
  return id;
}

/** Tries of the node's own solver per second on one core (difficulty 64: it never stops early). */
function hashRate(seconds: number): number {
  const key = randomBytes(32);
  const slice = 50_000;
  let tries = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    solveIdRange(key, 64, tries, slice);
    tries += slice;
  }
  return tries / ((performance.now() - started) / 1000);
}

/** OpenSSL's own SHA-256 over 64-byte inputs (two blocks; the puzzle's input is one): what optimized native code does per core. */
function opensslSha256PerSecond(): number | undefined {
  const run = spawnSync('openssl', ['speed', '-seconds', '2', '-bytes', '64', 'sha256'], { encoding: 'utf8' });
  const m = /^sha256\s+([\d.]+)k/m.exec(run.stdout ?? '');
  return m ? (Number(m[1]) * 1000) / 64 : undefined;
}

export async function sybilCost(options: { seed: number; log: (...args: unknown[]) => void }): Promise<Record<string, unknown>> {
  const { log } = options;
  const difficulty = DEFAULT_CHORD_CONFIG.idDifficulty;
  const replicas = DEFAULT_CHORD_CONFIG.replicas;
  // The median of five 2-second runs: other work on the machine only ever slows a run down.
  const rates = Array.from({ length: 5 }, () => hashRate(2)).sort((a, b) => a - b);
  const perSecond = rates[2];
  log('sybil: puzzle hashes per second on one core', Math.round(perSecond), rates.map(Math.round));

  // Honest IDs solved for real at the default difficulty.
  const honestRuns: number[] = [];
  for (let i = 0; i < 8; i++) {
    const started = performance.now();
    solveIdRange(randomBytes(32), difficulty, 0, Number.MAX_SAFE_INTEGER);
    honestRuns.push((performance.now() - started) / 1000);
    await new Promise((resolve) => setImmediate(resolve));
  }
  log('sybil: honest IDs (s)', honestRuns.map((s) => s.toFixed(2)));

  // One check, no cache: hash and compare.
  const key = randomBytes(32);
  const { nonce } = solveIdRange(key, 8, 0, Number.MAX_SAFE_INTEGER)!;
  const ref = { id: idToHex(nodeIdFromProof(key, nonce)), pk: key.toString('base64url'), nonce };
  const checks = 20_000;
  const checkStarted = performance.now();
  for (let i = 0; i < checks; i++) checkIdProof(ref, 8);
  const verifyMicros = ((performance.now() - checkStarted) * 1000) / checks;

  // A 10,000-node ring; for each chosen key, the arc from the replicas-th node before it to the key.
  const random = seededRandom(options.seed * 97 + 21);
  const ids = Array.from({ length: RING_NODES }, () => randomId(random)).sort((a, b) => (a < b ? -1 : 1));
  const arcBefore = (key: NodeId): { start: NodeId; share: number } => {
    let after = ids.findIndex((id) => id >= key);
    if (after < 0) after = 0;
    const start = ids[(after - replicas + RING_NODES) % RING_NODES];
    return { start, share: Number((((key - start + RING_SIZE) % RING_SIZE) * 1_000_000_000n) / RING_SIZE) / 1e9 };
  };
  const meanShare = replicas / RING_NODES;

  // Sampling: the attacker's real search at a low difficulty, against 20 chosen keys, counting the
  // IDs that carry a proof and fall in the key's arc, against 2^-D times the arc's share per hash.
  const sampleDifficulty = 2;
  const keys = 20;
  const hashesPerKey = 150_000;
  let placed = 0;
  let predicted = 0;
  let shares = 0;
  for (let k = 0; k < keys; k++) {
    const target = randomId(random);
    const arc = arcBefore(target);
    shares += arc.share;
    predicted += (hashesPerKey * arc.share) / 2 ** sampleDifficulty;
    const attacker = randomBytes(32);
    for (let n = 0; n < hashesPerKey; n++) {
      const work = idWork(attacker, n);
      if (leadingZeroBits(work) >= sampleDifficulty && inHalfOpenInterval(BigInt('0x' + work.subarray(12).toString('hex')), arc.start, target)) placed++;
    }
  }
  log('sybil: sampled positions', placed, 'predicted', predicted.toFixed(1));

  const perHour = (rate: number, share: number) => (rate * 3600 * share) / 2 ** difficulty;
  const native = opensslSha256PerSecond();
  return {
    model:
      'an attacker with one core searches keys and nonces for IDs inside the arc of the `replicas` (3) nodes just before a chosen key in a 10,000-node ring (share replicas/10,000 of the ring on average): each hash gives a random ID with 2^-D chance of carrying the proof, so a position costs 2^D / share hashes. Before the puzzle an ID was not checked at all: positions were free.',
    difficulty,
    hashesPerSecond: Math.round(perSecond),
    honestIdSeconds: Number((2 ** difficulty / perSecond).toFixed(2)),
    honestIdSecondsMeasured: { mean: Number((honestRuns.reduce((a, b) => a + b, 0) / honestRuns.length).toFixed(2)), runs: honestRuns.map((s) => Number(s.toFixed(2))) },
    verifyMicros: Number(verifyMicros.toFixed(2)),
    arcShare: meanShare,
    positionsPerHour: Number(perHour(perSecond, meanShare).toFixed(2)),
    sampled: {
      difficulty: sampleDifficulty,
      keys,
      hashesPerKey,
      meanArcShare: Number((shares / keys).toFixed(6)),
      positions: placed,
      predicted: Number(predicted.toFixed(1)),
    },
    ...(native
      ? {
          optimizedNative: {
            note: 'openssl speed sha256 at 64-byte inputs (two SHA-256 blocks; the puzzle hashes one), one core: a lower bound on what tuned native code does; GPUs do far more',
            sha256PerSecond: Math.round(native),
            positionsPerHour: Number(perHour(native, meanShare).toFixed(2)),
          },
        }
      : {}),
    nameClaimsPerHour: Math.round((perSecond * 3600) / 2 ** DEFAULT_CHORD_CONFIG.nameDifficulty),
  };
}
