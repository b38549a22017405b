import assert from 'node:assert/strict';

/** One line on stderr, starting "peerdial: " (or "peerdial origin: "), saying what to change, and a non-zero exit. */
export function assertOneLineError(r: { code: number | null; stdout: string; stderr: string }, mentions: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${r.stderr}`);
  assert.match(lines[0], /^peerdial( origin)?: /);
  assert.match(lines[0], mentions);
}
