// What the Network screen and `overlay.status` show of the overlay service.
import { fingerprintOf, type OverlayService } from '../services/overlay/index.js';
import type { NodeRef } from '../wire/overlay/messages.js';
import { idFromHex } from '../wire/overlay/node-id.js';
import type { OverlayNodeView, OverlayRecordView, OverlayStatus } from './api.js';

const view = (n: NodeRef): OverlayNodeView => ({ id: n.id, host: n.host, port: n.port });

export function overlayStatusView(service: OverlayService): OverlayStatus {
  const chord = service.node;
  const table = chord?.table;
  const records: OverlayRecordView[] = (chord?.store.all() ?? [])
    .filter((r) => r.expires > Date.now())
    .map((r) => ({
      type: r.type,
      key: r.key,
      user: r.value.user,
      ...((r.type === 'binding' || r.type === 'service') && 'contact' in r.value ? { contact: r.value.contact } : {}),
      ownerFingerprint: fingerprintOf(r.owner),
      seq: r.seq,
      expires: r.expires,
      primary: table ? table.isResponsible(idFromHex(r.key)!) : false,
    }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.type < b.type ? -1 : 1));
  const stats = chord?.stats;
  const member = service.memberRef;
  return {
    overlay: service.overlay,
    role: service.role,
    nodeId: service.self?.id ?? '',
    ...(service.self?.pk !== undefined && service.self.nonce !== undefined ? { nodeProof: { pk: service.self.pk, nonce: service.self.nonce } } : {}),
    aor: service.ownAor(),
    ...(service.role === 'client' && member ? { member: { id: member.id ?? '', host: member.host, port: member.port } } : {}),
    ...(table?.predecessor ? { predecessor: view(table.predecessor) } : {}),
    successors: (table?.successors ?? []).map(view),
    fingers: (table?.distinctFingers() ?? []).map((f) => {
      const rtt = chord?.rtts.get(f.node.id);
      return { index: f.index, node: view(f.node), ...(rtt !== undefined ? { rttMs: Math.round(rtt) } : {}) };
    }),
    records,
    registration: { ...service.registration },
    bootstrap: [...service.bootstrap],
    suspects: (chord?.suspects() ?? []).map((s) => ({ node: view(s.node), until: s.until, reason: s.reason })),
    stats: {
      lookups: stats?.lookups ?? 0,
      lookupFailures: stats?.lookupFailures ?? 0,
      meanHops: stats && stats.lookups ? stats.hops / stats.lookups : 0,
      requestsHandled: stats?.requestsHandled ?? 0,
      suspects: stats?.suspectsMarked ?? 0,
      defendedFetches: stats?.defendedFetches ?? 0,
      replicaRepairs: stats?.replicaRepairs ?? 0,
      fetchRepairs: stats?.fetchRepairs ?? 0,
      store: { records: chord?.store.size ?? 0, bytes: chord?.store.bytes ?? 0, refused: { ...(chord?.store.refused ?? {}) } },
      idsRefused: { ...(chord?.ids.refused ?? {}) },
    },
  };
}
