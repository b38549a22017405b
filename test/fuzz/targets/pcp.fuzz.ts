// PCP and NAT-PMP answers from the gateway (native/wire/pcp): anyone on the LAN can send them.
import { parseMapResponse } from '../../../native/wire/pcp/message.js';

export function fuzz(data: Buffer): void {
  parseMapResponse(data);
}
