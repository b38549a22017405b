import { ControlClientError } from './control-client.js';

/** The sentence to show a person: the engine's own words for a coded error. */
export function describeError(error: unknown): string {
  if (error instanceof ControlClientError) return error.message;
  return `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
}
