// Solving the overlay's puzzles (wire/overlay/id-puzzle.ts) without holding up the event loop:
// a second or two of hashing runs in slices of a few milliseconds each, with other work (SIP,
// the control API) served in between. Each solution is kept in settings, so it is paid once per
// key (and, for a name claim, per name): a restart finds it there.
import { idWork, isNonce, leadingZeroBits, nameWork, solveIdRange, solveNameRange } from '../../wire/overlay/id-puzzle.js';
import type { SettingsRepository } from '../../storage/repositories/settings-repository.js';

/** Nonces tried per slice: about 10-30 ms of one core. */
const SLICE = 16_384;

export interface Solution {
  nonce: number;
  bits: number;
}

/** Runs `step` over the nonces slice by slice, yielding to the event loop between slices, until one solves. */
export async function solveInSlices(step: (from: number, count: number) => Solution | undefined, signal?: AbortSignal): Promise<Solution> {
  for (let from = 0; ; from += SLICE) {
    signal?.throwIfAborted();
    const found = step(from, SLICE);
    if (found) return found;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface KeptIdProof {
  pk: string;
  nonce: number;
}

/** This node's ID proof for its raw key at `difficulty`: the one kept in settings when it still holds, else a new one (saved). */
export async function nodeIdProof(settings: SettingsRepository, rawKey: Buffer, difficulty: number, signal?: AbortSignal): Promise<Solution> {
  const pk = rawKey.toString('base64url');
  const kept = await settings.get<KeptIdProof>('overlay.idProof');
  if (kept && kept.pk === pk && isNonce(kept.nonce)) {
    const bits = leadingZeroBits(idWork(rawKey, kept.nonce));
    if (bits >= difficulty) return { nonce: kept.nonce, bits };
  }
  const solved = await solveInSlices((from, count) => solveIdRange(rawKey, difficulty, from, count), signal);
  await settings.set('overlay.idProof', { pk, nonce: solved.nonce } satisfies KeptIdProof);
  return solved;
}

interface KeptNameWork {
  owner: string;
  name: string;
  nonce: number;
}

/** The proof of work of a name claim by `owner` (raw key, base64url) for user@overlay, kept in settings like the ID proof. */
export async function nameClaimWork(settings: SettingsRepository, owner: string, user: string, overlay: string, difficulty: number, signal?: AbortSignal): Promise<Solution> {
  const raw = Buffer.from(owner, 'base64url');
  const name = `${user}@${overlay}`.toLowerCase();
  const kept = await settings.get<KeptNameWork>('overlay.nameWork');
  if (kept && kept.owner === owner && kept.name === name && isNonce(kept.nonce)) {
    const bits = leadingZeroBits(nameWork(raw, user, overlay, kept.nonce));
    if (bits >= difficulty) return { nonce: kept.nonce, bits };
  }
  const solved = await solveInSlices((from, count) => solveNameRange(raw, user, overlay, difficulty, from, count), signal);
  await settings.set('overlay.nameWork', { owner, name, nonce: solved.nonce } satisfies KeptNameWork);
  return solved;
}

/**
 * The work of a name claim this node signs for a name not its user's (a phone farm's users):
 * settings keep one name's work, so these are solved once per run and kept in memory only.
 */
export function claimWorkInMemory(cache: Map<string, Promise<number>>, owner: string, user: string, overlay: string, difficulty: number): Promise<number> {
  const id = `${owner} ${user.toLowerCase()}@${overlay.toLowerCase()} ${difficulty}`;
  let solving = cache.get(id);
  if (!solving) {
    const raw = Buffer.from(owner, 'base64url');
    solving = solveInSlices((from, count) => solveNameRange(raw, user, overlay, difficulty, from, count)).then((s) => s.nonce);
    cache.set(id, solving);
    solving.catch(() => cache.delete(id));
  }
  return solving;
}
