/** A failure the user can act on, with a stable code the control API passes through unchanged. */
export type UserErrorCode = 'INVALID_ARGUMENT' | 'NO_IDENTITY' | 'IDENTITY_EXISTS' | 'INVALID_URI' | 'NOT_FOUND' | 'UNAVAILABLE' | 'INVALID_STATE' | 'LOOKUP_FAILED' | 'IDENTITY_LOCKED';

export class UserError extends Error {
  constructor(
    readonly code: UserErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
