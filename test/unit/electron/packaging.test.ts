import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { REPO_ROOT } from '../../support/node-process.js';

// electron-builder's own config loader and schema check, as `electron-builder` runs them first.
const require = createRequire(path.join(REPO_ROOT, 'node_modules/electron-builder/package.json'));
interface BuilderConfig {
  appId: string;
  productName: string;
  npmRebuild: boolean;
  directories: { buildResources: string; output: string };
  linux: { target: string[]; category: string };
  mac: { target: string[] };
  win: { target: string[] };
}
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: null): Promise<BuilderConfig>;
  validateConfiguration(config: unknown, debugLogger: unknown): Promise<void>;
};
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };

function pngChunks(png: Buffer) {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: Array<{ type: string; data: Buffer }> = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(png.readUInt32BE(at + 8 + length), zlib.crc32(png.subarray(at + 4, at + 8 + length)), `CRC of ${type}`);
    chunks.push({ type, data });
    at += 12 + length;
  }
  return chunks;
}

describe('packaging', () => {
  it('has an electron-builder config that electron-builder accepts', async () => {
    const config = await getConfig(REPO_ROOT, null, null);
    await validateConfiguration(config, new DebugLogger(false));
    assert.equal(config.appId, 'app.peerdial');
    assert.equal(config.productName, 'Peerdial');
    assert.equal(config.directories.buildResources, 'build');
    assert.notEqual(config.directories.output, 'dist', 'packages must not land in dist/, where the app is built');
    assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
    assert.deepEqual(config.mac.target, ['dmg']);
    assert.deepEqual(config.win.target, ['nsis']);
    assert.equal(config.linux.category, 'Network;Telephony');
    assert.equal(config.npmRebuild, true);
  });

  it('rejects a config with a misspelt option (the check above can fail)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peerdial-eb-'));
    try {
      const bad = path.join(dir, 'bad.yml');
      writeFileSync(bad, readFileSync(path.join(REPO_ROOT, 'electron-builder.yml'), 'utf8') + 'linuxx: {}\n');
      const config = await getConfig(REPO_ROOT, bad, null);
      await assert.rejects(validateConfiguration(config, new DebugLogger(false)), /linuxx/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships build/icon.png: a valid 512 x 512 RGBA PNG, as build/make-icon.mjs draws it', () => {
    const committed = readFileSync(path.join(REPO_ROOT, 'build/icon.png'));
    const chunks = pngChunks(committed);
    const header = chunks[0];
    assert.equal(header.type, 'IHDR');
    assert.equal(header.data.readUInt32BE(0), 512);
    assert.equal(header.data.readUInt32BE(4), 512);
    assert.equal(header.data[8], 8);
    assert.equal(header.data[9], 6);
    const raw = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    assert.equal(raw.length, 512 * (512 * 4 + 1));
    assert.equal(chunks.at(-1)!.type, 'IEND');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'peerdial-icon-'));
    try {
      const fresh = path.join(dir, 'icon.png');
      execFileSync(process.execPath, [path.join(REPO_ROOT, 'build/make-icon.mjs'), fresh]);
      assert.ok(readFileSync(fresh).equals(committed), 'build/icon.png is stale: run node build/make-icon.mjs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
