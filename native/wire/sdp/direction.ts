// RFC 3264 5.1 and 6.1: stream directions, seen from the side that wrote the SDP.

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export function isDirection(value: unknown): value is MediaDirection {
  return typeof value === 'string' && (DIRECTIONS as readonly string[]).includes(value);
}

export function sends(direction: MediaDirection): boolean {
  return direction === 'sendrecv' || direction === 'sendonly';
}

export function receives(direction: MediaDirection): boolean {
  return direction === 'sendrecv' || direction === 'recvonly';
}

export function directionOf(send: boolean, receive: boolean): MediaDirection {
  if (send && receive) return 'sendrecv';
  if (send) return 'sendonly';
  if (receive) return 'recvonly';
  return 'inactive';
}

/**
 * RFC 3264 6.1: a sendonly offer gets recvonly or inactive, recvonly gets sendonly or inactive,
 * inactive gets inactive, sendrecv gets any. So the answerer sends only where the offerer
 * receives, and receives only where the offerer sends, and then only as far as it wants to.
 */
export function answerDirection(offered: MediaDirection, wanted: MediaDirection): MediaDirection {
  return directionOf(receives(offered) && sends(wanted), sends(offered) && receives(wanted));
}
