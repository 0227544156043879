/**
 * True for a connection the server refused to authenticate (SQLSTATE class 28: 28P01 wrong password,
 * 28000 invalid authorization): the credentials may have been rotated since they were read, so the
 * caller reads them again, bypassing any cache, and connects once more. PostgreSQL raises class 28
 * only while a connection starts, so nothing of a statement has run.
 */
export function isAuthenticationFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && /^28[0-9A-Z]{3}$/.test(code);
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
