// Run inside a network namespace (`ip netns exec NS node --import tsx control-relay.ts UI_URL`):
// the node's control API listens on 127.0.0.1 there, out of the test's reach. This relays
// JSON lines between stdin/stdout and that API: in `{"id":1,"command":"overlay.status","params":{}}`,
// out `{"id":1,"ok":true,"value":...}` or `{"id":1,"ok":false,"error":"..."}`.
import { createInterface } from 'node:readline';
import type { CommandName, ParamsOf } from '../../native/control/api.js';
import { controlOf } from '../support/control.js';

const uiUrl = process.argv[2];
if (!uiUrl) {
  process.stderr.write('usage: control-relay.ts UI_URL\n');
  process.exit(2);
}
const control = controlOf({ uiUrl });
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let request: { id: number; command: CommandName; params: unknown };
  try {
    request = JSON.parse(line) as typeof request;
  } catch {
    return;
  }
  control
    .invoke(request.command, request.params as ParamsOf<CommandName>)
    .then((value) => process.stdout.write(JSON.stringify({ id: request.id, ok: true, value }) + '\n'))
    .catch((error: Error) => process.stdout.write(JSON.stringify({ id: request.id, ok: false, error: `${(error as { code?: string }).code ?? ''} ${error.message}` }) + '\n'));
});
lines.on('close', () => {
  control.close();
  process.exit(0);
});
