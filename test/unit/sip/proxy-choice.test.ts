import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseFinal, upstreamStatus } from '../../../native/proto/sip/proxy-choice.js';

describe('the final response a forking proxy sends upstream (RFC 3261 16.7 step 6)', () => {
  it('a 6xx from any branch wins: the callee declined', () => {
    assert.equal(chooseFinal([486, 603, 408]), 1);
  });
  it('otherwise the lowest class, a definite answer before a branch that gave up', () => {
    assert.equal(chooseFinal([480, 486, 500]), 1);
    assert.equal(chooseFinal([408, 302, 486]), 1);
    assert.equal(chooseFinal([408, 480]), 0);
  });
  it('prefers answers that let the caller try again (401, 407, 415, 420, 484)', () => {
    assert.equal(chooseFinal([486, 407, 404]), 1);
  });
  it('no branch: nothing to choose; a 503 goes upstream as 500', () => {
    assert.equal(chooseFinal([]), -1);
    assert.equal(upstreamStatus(503), 500);
    assert.equal(upstreamStatus(486), 486);
  });
});
