// What every fuzz target asserts beyond "does not throw": a value that parsed once parses
// the same after being written out again. An exception a parser throws is a finding as it
// is (Jazzer reports it with the input); these throw one of their own when a contract breaks.
import { isDeepStrictEqual } from 'node:util';

export class ContractBroken extends Error {}

export function sameAfterRoundTrip(what: string, first: unknown, again: unknown): void {
  if (!isDeepStrictEqual(first, again)) {
    throw new ContractBroken(`${what} does not round-trip:\n${JSON.stringify(first)}\nbecame\n${JSON.stringify(again)}`);
  }
}

export function holds(condition: boolean, what: string): void {
  if (!condition) throw new ContractBroken(what);
}

/** JSON bodies: a text that is not JSON is the caller's to refuse before the parser sees it. */
export function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
