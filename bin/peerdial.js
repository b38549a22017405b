#!/usr/bin/env node
// The `peerdial` command. Runs the compiled engine from dist/ (built by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/native/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('peerdial: it is not built yet: run "npm run build" in the Peerdial folder first.\n');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
// Everything is closed by now; do not let a stray handle keep the process alive.
setTimeout(() => process.exit(), 500).unref();
