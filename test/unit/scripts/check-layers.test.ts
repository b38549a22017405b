import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
// @ts-expect-error: a plain JS script without types
import { checkLayers } from '../../../scripts/check-layers.js';
import { removeDir, tempDataDir } from '../../support/node-process.js';

const roots: string[] = [];
after(() => Promise.all(roots.map(removeDir)));

async function tree(files: Record<string, string>): Promise<string> {
  const root = await tempDataDir('peerdial-layers-');
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

describe('layer check', () => {
  it('passes this repository', () => {
    assert.deepEqual(checkLayers(), []);
  });

  it('accepts imports that follow wire <- proto <- services <- control', async () => {
    const root = await tree({
      'native/wire/a.ts': 'export const a = 1;',
      'native/proto/b.ts': "import { a } from '../wire/a.js';",
      'native/services/c.ts': "import { b } from '../proto/b.js';\nimport { t } from '../transport/t.js';",
      'native/control/d.ts': "import { c } from '../services/c.js';",
      'renderer/src/e.svelte': "<script lang=\"ts\">import type { X } from '../../native/control/d.js';</script>",
    });
    assert.deepEqual(checkLayers(root), []);
  });

  it('flags a lower layer importing a higher one, transport outside services, and runtime imports in the renderer', async () => {
    const root = await tree({
      'native/wire/a.ts': "import { s } from '../services/s.js';",
      'native/control/d.ts': "import { udp } from '../transport/udp.js';",
      'renderer/src/App.svelte': "<script lang=\"ts\">\nimport { ControlApi } from '../../native/control/control-api.js';\n</script>",
      'renderer/src/x.ts': "import {\n  type A,\n} from '../../native/services/im.js';",
    });
    const problems: string[] = checkLayers(root);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /native\/wire\/a\.ts: native\/wire may not import native\/services/);
    assert.match(problems.join('\n'), /native\/control\/d\.ts: native\/control may not import native\/transport/);
    assert.match(problems.join('\n'), /renderer\/src\/App\.svelte: the renderer may import only types/);
  });

  it('lets a services domain be used from outside only through its index and its view types', async () => {
    const root = await tree({
      'native/services/sip/sip-stack.ts': 'export class SipStack {}',
      'native/services/sip/index.ts': "export * from './sip-stack.js';",
      'native/services/calls/call.ts': "import { x } from './call-view.js';\nimport { SipStack } from '../sip/index.js';\nimport { UserError } from '../errors.js';",
      'native/services/presence/buddies.ts': "import { SipStack } from '../sip/sip-stack.js';",
      'native/control/api.ts': "import type { C } from '../services/calls/call.js';\nimport type { S } from '../services/sip/index.js';\nimport type { V } from '../services/calls/call-view.js';",
    });
    const problems: string[] = checkLayers(root);
    assert.deepEqual(problems, [
      'native/control/api.ts: import services/calls through its index, not its internals (imports ../services/calls/call.js)',
      'native/services/presence/buddies.ts: import services/sip through its index, not its internals (imports ../sip/sip-stack.js)',
    ]);
  });
});
