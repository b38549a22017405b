// Loads the captured packets of test/fixtures/rtp (see its README for where they came from).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const FIXTURES = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/rtp');

export function capturedPackets(prefix: string, count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => readFileSync(path.join(FIXTURES, `${prefix}-${String(i).padStart(2, '0')}.bin`)));
}
