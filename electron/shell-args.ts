// Command-line flags the desktop app understands. `--data-dir DIR` (or `--data-dir=DIR`)
// moves userData, as `peerdial node --data-dir` does for the headless node, so two
// instances with different data dirs can run side by side.
import path from 'node:path';

export function dataDirArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--data-dir' && i + 1 < argv.length && argv[i + 1] !== '') return path.resolve(argv[i + 1]);
    if (arg.startsWith('--data-dir=') && arg.length > '--data-dir='.length) return path.resolve(arg.slice('--data-dir='.length));
  }
  return undefined;
}
