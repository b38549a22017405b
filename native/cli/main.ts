// `peerdial`: the headless faces. Each command parses its flags with the one parser in
// flags.ts; a bad flag is one line on stderr and exit code 2.
import { VERSION } from '../roots/defaults.js';
import { runCommand } from './flags.js';
import { HELP, nodeMain } from './node-command.js';
import { originMain } from './origin-command.js';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (command === 'origin') return runCommand('peerdial origin', () => originMain(rest));
  if (command === 'node') return runCommand('peerdial', () => nodeMain(rest));
  process.stderr.write(`peerdial: unknown command "${command}". Run "peerdial --help" for the commands.\n`);
  return 2;
}
