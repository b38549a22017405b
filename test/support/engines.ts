// In-process engines for integration tests: started on loopback with fast Chord timers, and
// all stopped (their data dirs removed) by one call in the test file's after().
import { Engine, type EngineOptions } from '../../native/roots/node-engine.js';
import { removeDir, tempDataDir, TEST_DIFFICULTY } from './node-process.js';
import { until } from './poll.js';

/** Fast timers, and puzzles of a few hundred hashes (a fresh node would otherwise spend seconds solving them). */
export const FAST_CHORD = { stabilizeMs: 200, fixFingersMs: 100, checkPredecessorMs: 400, replicateMs: 1_000, requestTimeoutMs: 1_000, ...TEST_DIFFICULTY };

export class EngineHarness {
  private readonly engines: Engine[] = [];
  private readonly dirs: string[] = [];

  async start(userName: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
    const dataDir = await tempDataDir();
    this.dirs.push(dataDir);
    const engine = await Engine.start({ dataDir, bind: '127.0.0.1', sipPort: 0, user: { userName }, overlayConfig: FAST_CHORD, ...options });
    this.engines.push(engine);
    return engine;
  }

  /** Two users in one ring, each found by the other in the overlay. */
  async pair(first: string, second: string): Promise<[Engine, Engine]> {
    const a = await this.start(first);
    const b = await this.start(second, { bootstrap: [`127.0.0.1:${a.sip.port}`] });
    await until(`${first} and ${second} in the overlay`, async () => {
      for (const [engine, user] of [[a, second], [b, first]] as const) {
        const found = await engine.api.invoke('overlay.lookup', { aor: user }).catch(() => undefined);
        if (!found?.contacts.length) return false;
      }
      return true;
    });
    return [a, b];
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.engines.map((e) => e.stop()));
    await Promise.all(this.dirs.map(removeDir));
  }
}
