import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a download token grants: one object of the exports bucket, until `expiresAt`. */
export interface DownloadGrant {
  /** The object key (`exports/<jobId>/<fileName>.csv.gz`). */
  readonly key: string;
  /** When the link stops working. */
  readonly expiresAt: Date;
}

/** Why a token was refused (the download endpoint answers 403 or 410 with it). */
export type DownloadTokenProblem = 'malformed' | 'bad-signature' | 'expired';

/** The outcome of {@link verifyDownloadToken}. */
export type DownloadTokenVerdict =
  | { readonly ok: true; readonly grant: DownloadGrant }
  | { readonly ok: false; readonly problem: DownloadTokenProblem };

// Format: base64url(JSON { v: 1, k: key, e: expiry in epoch seconds }) "." base64url(HMAC-SHA256).
// A JWT library would do the same with more surface (algorithm negotiation, `alg: none` history);
// one fixed algorithm and one claim set need neither. The claims are signed, not encrypted: the key
// they name is no secret to the person holding the link.
const VERSION = 1;

/**
 * Signs a download grant with the deployment's download signing key (HMAC-SHA256). The token, not a
 * presigned S3 URL, is what the `export.ready` mail links to: it stays valid for its own lifetime
 * whatever happens to the credentials of the function that made it (see the README, "Download link").
 */
export function signDownloadToken(grant: DownloadGrant, signingKey: string | Buffer): string {
  const claims = Buffer.from(
    JSON.stringify({ v: VERSION, k: grant.key, e: Math.floor(grant.expiresAt.getTime() / 1000) }),
  ).toString('base64url');
  return `${claims}.${mac(claims, signingKey)}`;
}

/**
 * Checks a token's signature (constant time) and expiry against `now`. A token signed with another
 * key, edited, or past its expiry is refused with the reason.
 */
export function verifyDownloadToken(
  token: string,
  signingKey: string | Buffer,
  now: Date,
): DownloadTokenVerdict {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, problem: 'malformed' };
  const claims = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = Buffer.from(mac(claims, signingKey), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, problem: 'bad-signature' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, problem: 'malformed' };
  }
  const { v, k, e } = (parsed ?? {}) as { v?: unknown; k?: unknown; e?: unknown };
  if (v !== VERSION || typeof k !== 'string' || typeof e !== 'number' || !Number.isInteger(e)) {
    return { ok: false, problem: 'malformed' };
  }
  const expiresAt = new Date(e * 1000);
  if (now.getTime() >= expiresAt.getTime()) return { ok: false, problem: 'expired' };
  return { ok: true, grant: { key: k, expiresAt } };
}

function mac(claims: string, signingKey: string | Buffer): string {
  return createHmac('sha256', signingKey).update(claims).digest('base64url');
}
