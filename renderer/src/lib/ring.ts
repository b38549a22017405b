// Where a node sits on the Chord ring drawing, and the short form of its 160-bit ID.
import type { OverlayNodeView, OverlayStatus } from './control-types.js';

/** Hex digits read for the angle: 52 bits fit a double exactly and are far finer than a pixel. */
const ANGLE_DIGITS = 13;

/** ID / 2^160 as a fraction of a turn, from the ID's 40 hex digits. */
export function turnOf(id: string): number {
  const head = id.slice(0, ANGLE_DIGITS).padEnd(ANGLE_DIGITS, '0');
  const value = Number.parseInt(head, 16);
  return Number.isFinite(value) ? value / 16 ** ANGLE_DIGITS : 0;
}

/** A point on a circle: 0 at the top, growing clockwise like the ring's IDs. */
export function pointOnCircle(turn: number, radius: number, cx: number, cy: number): { x: number; y: number } {
  const angle = turn * 2 * Math.PI;
  return { x: cx + radius * Math.sin(angle), y: cy - radius * Math.cos(angle) };
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function endpointOf(node: { host: string; port: number }): string {
  return `${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`;
}

export type RingRole = 'self' | 'predecessor' | 'successor' | 'finger' | 'member';

export interface KnownNode {
  node: OverlayNodeView;
  /** Every way this node knows it (a successor can also be a finger and the predecessor). */
  roles: RingRole[];
}

/** Every node this node knows, once each, self first. */
export function knownNodes(status: OverlayStatus): KnownNode[] {
  const byId = new Map<string, KnownNode>();
  const add = (node: OverlayNodeView | undefined, role: RingRole) => {
    if (!node?.id) return;
    const known = byId.get(node.id);
    if (!known) byId.set(node.id, { node, roles: [role] });
    else if (!known.roles.includes(role)) known.roles.push(role);
  };
  if (status.nodeId) add({ id: status.nodeId, host: '', port: 0 }, 'self');
  add(status.member, 'member');
  add(status.predecessor, 'predecessor');
  for (const successor of status.successors) add(successor, 'successor');
  for (const finger of status.fingers) add(finger.node, 'finger');
  return [...byId.values()];
}
