import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, removeDir, REPO_ROOT, tempDataDir } from '../../support/node-process.js';

const START = path.join(REPO_ROOT, 'scripts/start.js');
const SENTENCE = "Electron's runtime is not available here, so Peerdial runs headless with the same UI in your browser: open the ui: address below.";

function udpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** `npm start` without Electron: runs scripts/start.js and waits for the node's ui: and sip: lines. */
async function startWithoutElectron(args: string[]) {
  // Electron's own override variable, pointed at an empty folder: no runtime, whatever is installed.
  const noElectron = mkdtempSync(path.join(os.tmpdir(), 'peerdial-no-electron-'));
  const child = spawn(process.execPath, [START, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: noElectron },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ui:/sip: lines within 15 s:\n${out}`)), 15_000);
    const check = () => {
      if (/^ui: /m.test(out) && /^sip: /m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.on('exit', () => reject(new Error(`start.js exited early:\n${out}`)));
  });
  return { child, output: () => out, exited, cleanup: () => removeDir(noElectron) };
}

describe('npm start without Electron', () => {
  before(() => {
    assert.ok(existsSync(path.join(REPO_ROOT, 'dist/native/cli/main.js')), 'build first: npm run build (or npx tsc -p tsconfig.build.json)');
  });
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await removeDir(dir);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`says so in one sentence, runs the headless node with the given flags, and stops on ${signal}`, async () => {
      const dataDir = await tempDataDir();
      dirs.push(dataDir);
      const sipPort = await freePort();
      const run = await startWithoutElectron(['--', '--data-dir', dataDir, '--bind', '127.0.0.1', '--sip-port', String(sipPort), '--user', 'zoe']);
      try {
        const lines = run.output().split('\n');
        assert.equal(lines[0], SENTENCE);
        assert.equal(lines.filter((l) => l.includes('Electron')).length, 1);
        const ui = /^ui: (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32,})$/m.exec(run.output());
        assert.ok(ui, run.output());
        assert.match(run.output(), new RegExp(`^sip: sip:zoe@127\\.0\\.0\\.1:${sipPort}$`, 'm'));
        // The flags reached the node: its data went where we said.
        assert.ok(existsSync(path.join(dataDir, 'peerdial.sqlite3')));
        assert.equal(await udpPortIsFree(sipPort), false);

        // native/cli/main.ts prints its ready lines just before it installs its signal handlers;
        // give it a moment so this test is about start.js, not that (reported) race.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const signalledAt = Date.now();
        run.child.kill(signal);
        const code = await run.exited;
        const ms = Date.now() - signalledAt;
        assert.equal(code, 0, run.output());
        assert.ok(ms < 3_000, `took ${ms} ms to stop`);
        assert.equal(await udpPortIsFree(sipPort), true, 'the node is still running after start.js exited');
      } finally {
        run.child.kill('SIGKILL');
        await run.cleanup();
      }
    });
  }

  it('opens the desktop app instead when an Electron runtime that runs is installed', { skip: process.platform === 'win32' }, async () => {
    // A stand-in runtime at Electron's override path; the real binary cannot be downloaded here.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peerdial-electron-dist-'));
    dirs.push(dir);
    const runtime = path.join(dir, 'electron');
    writeFileSync(runtime, '#!/bin/sh\nif [ "$1" = --version ]; then echo v45.5.0; exit 0; fi\necho "app: $*"\n');
    chmodSync(runtime, 0o755);
    const run = spawnSync(process.execPath, [START, '--data-dir', '/tmp/x'], { encoding: 'utf8', env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: dir }, timeout: 10_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), `app: ${REPO_ROOT} --data-dir /tmp/x`);
    assert.doesNotMatch(run.stdout, /not available/);
  });
});
