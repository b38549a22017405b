// `npm test` sets itself up: the Debian packages the tests drive (sipp, baresip, Kamailio,
// nginx, Chromium...) are installed by scripts/install-test-deps.sh when this runs as root, and
// otherwise it stops at once with the one command to run. Quiet when everything is there.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const SCRIPT = path.join(path.dirname(new URL(import.meta.url).pathname), 'install-test-deps.sh');
const COMMAND = 'sudo bash scripts/install-test-deps.sh';

/**
 * What to do about the test dependencies: nothing, install them (as root), or ask the user to.
 * `missing` is undefined where they cannot be checked (no dpkg: not a Debian-like system).
 */
export function pretestAction({ missing, isRoot }) {
  if (missing === undefined) {
    return { kind: 'ask', message: `npm test drives Debian packages (sipp, baresip, kamailio, nginx, chromium and more) and cannot check for them here: on Debian or Ubuntu run "${COMMAND}" once.` };
  }
  if (missing.length === 0) return { kind: 'ok' };
  if (isRoot) return { kind: 'install', message: `npm test: installing the test dependencies it lacks (${missing.join(', ')}).` };
  return { kind: 'ask', message: `npm test needs ${missing.join(', ')}: run "${COMMAND}" once, then npm test again.` };
}

function missingPackages() {
  const dpkg = spawnSync('dpkg', ['--version'], { stdio: 'ignore' });
  if (dpkg.error || dpkg.status !== 0) return undefined;
  const check = spawnSync('bash', [SCRIPT, '--check'], { encoding: 'utf8' });
  if (check.status === 0) return [];
  return check.stdout.split('\n').filter(Boolean);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const action = pretestAction({ missing: missingPackages(), isRoot: process.getuid?.() === 0 });
  if (action.kind === 'ask') {
    console.error(action.message);
    process.exit(1);
  }
  if (action.kind === 'install') {
    console.error(action.message);
    const run = spawnSync('bash', [SCRIPT], { stdio: 'inherit' });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
}
