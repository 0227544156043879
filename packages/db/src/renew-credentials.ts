import { DatabaseOptionsError } from './errors.ts';

/**
 * True for a connection the server refused for its password (SQLSTATE 28P01): the password may have
 * been rotated since it was read, so the caller reads it again, bypassing any cache, and connects once
 * more. PostgreSQL raises it only while a connection starts, so nothing of a statement has run. Not
 * the rest of class 28 (28000: no pg_hba.conf entry, a role that may not log in), which a fresh
 * password does not cure.
 */
export function isAuthenticationFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return (error as { code?: unknown }).code === '28P01';
}

/** The default of {@link atMostEvery}'s interval between fresh reads of credentials: 30 s. */
export const DEFAULT_RENEW_INTERVAL_MS = 30_000;

/**
 * `read`, at most once per `intervalMs` (from the start of the last read): calls meanwhile share the
 * read under way, or get `undefined` once it is over. For reading a secret past its cache when a
 * password is refused: a password that stays wrong (a rotation stopped between setSecret and
 * finishSecret) would otherwise cost each refused connection a GetSecretValue.
 */
export function atMostEvery<T>(
  intervalMs: number,
  read: () => Promise<T>,
  now: () => number = Date.now,
): () => Promise<T | undefined> {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new DatabaseOptionsError('renewIntervalMs', 'must be a non-negative number of milliseconds');
  }
  let last = Number.NEGATIVE_INFINITY;
  let reading: Promise<T> | undefined;
  return async () => {
    if (reading !== undefined) return reading;
    if (now() - last < intervalMs) return undefined;
    last = now();
    reading = read();
    try {
      return await reading;
    } finally {
      reading = undefined;
    }
  };
}

/**
 * `use(target)`; when it fails with an {@link isAuthenticationFailure}, `use` once more on what
 * `renew(target)` returns: a target built from credentials read afresh. `renew` returns `undefined`
 * when they are the ones that failed, and the failure stands.
 */
export async function retryWithRenewedCredentials<T, R>(
  target: T,
  use: (target: T) => Promise<R>,
  renew: (failed: T) => Promise<T | undefined>,
): Promise<R> {
  try {
    return await use(target);
  } catch (error) {
    if (!isAuthenticationFailure(error)) throw error;
    const renewed = await renew(target);
    if (renewed === undefined) throw error;
    return use(renewed);
  }
}
