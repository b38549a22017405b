import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
// @ts-expect-error: a plain JS script without types
import { pretestAction } from '../../../scripts/pretest.js';

describe('npm test sets itself up', () => {
  it('does nothing when every test dependency is installed', () => {
    assert.deepEqual(pretestAction({ missing: [], isRoot: false }), { kind: 'ok' });
  });

  it('installs what is missing when it runs as root (no sudo needed)', () => {
    const action = pretestAction({ missing: ['sip-tester', 'nginx-light'], isRoot: true });
    assert.equal(action.kind, 'install');
    assert.match(action.message, /sip-tester, nginx-light/);
  });

  it('otherwise stops with the one command to run, naming what is missing', () => {
    const action = pretestAction({ missing: ['chromium'], isRoot: false });
    assert.equal(action.kind, 'ask');
    assert.match(action.message, /needs chromium: run "sudo bash scripts\/install-test-deps\.sh" once/);
    assert.ok(!action.message.includes('\n'), 'one line');
  });

  it('says what to do where the packages cannot be checked (no dpkg)', () => {
    const action = pretestAction({ missing: undefined, isRoot: true });
    assert.equal(action.kind, 'ask');
    assert.match(action.message, /sudo bash scripts\/install-test-deps\.sh/);
  });
});
