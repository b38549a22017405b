/**
 * Polls `probe` until it returns something truthy, and returns that. A probe that throws counts
 * as "not yet"; past `ms` it fails with what it waited for, the last error and `describeLast()`.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000, describeLast: () => string = () => '', intervalMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const last = describeLast();
      throw new Error(`timed out after ${ms} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}${last ? `\n${last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
