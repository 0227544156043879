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

// Format: base64url(JSON { v: 2, i: key id, k: key, e: expiry in epoch seconds }) "." base64url(HMAC-SHA256).
// A JWT library would do the same with more surface (algorithm negotiation, `alg: none` history);
// one fixed algorithm and one claim set need neither. The claims are signed, not encrypted: the key
// they name is no secret to the person holding the link. `i` names the signing key (see
// `signingKeyId`), so the endpoint knows which of the keys it holds to check, and when it holds none
// with that id, that the key was rotated since it fetched them. Version 1 (no `i`) is what links
// signed before key ids carry: the endpoint checks them against every key it holds, as before, until
// the last of them expires.
const VERSION = 2;
const VERSION_WITHOUT_KEY_ID = 1;
// A token is a few hundred characters (an S3 key is at most 1,024 bytes); anything far longer is not
// parsed at all.
const MAX_TOKEN_LENGTH = 4096;
const KEY_ID_LABEL = 'sidestep export download key id';

/**
 * The id a token names its signing key by: the first 8 characters (48 bits) of base64url
 * HMAC-SHA256(key, a fixed label). It tells the endpoint's keys apart and says nothing of the key
 * itself (unlike a plain hash of it, which would let anyone holding a link test guesses of a weak key).
 */
export function signingKeyId(signingKey: string | Buffer): string {
  return createHmac('sha256', signingKey).update(KEY_ID_LABEL).digest('base64url').slice(0, 8);
}

/**
 * Signs a download grant with the deployment's download signing key (HMAC-SHA256), naming the key by
 * its {@link signingKeyId}. The token, not a presigned S3 URL, is what the `export.ready` mail links
 * to: it stays valid for its own lifetime whatever happens to the credentials of the function that
 * made it (see the README, "Download link").
 */
export function signDownloadToken(grant: DownloadGrant, signingKey: string | Buffer): string {
  const claims = Buffer.from(
    JSON.stringify({
      v: VERSION,
      i: signingKeyId(signingKey),
      k: grant.key,
      e: Math.floor(grant.expiresAt.getTime() / 1000),
    }),
  ).toString('base64url');
  return `${claims}.${mac(claims, signingKey)}`;
}

/** The signing key id a token names (`undefined` for a version 1 token), read before it is verified. */
export type DownloadTokenKeyId =
  | { readonly ok: true; readonly keyId: string | undefined }
  | { readonly ok: false; readonly problem: 'malformed' };

/**
 * The id of the key a token says it was signed with, unverified: which key to verify it with. A
 * token that is not one (shape, JSON, claims) is `malformed`.
 */
export function downloadTokenKeyId(token: string): DownloadTokenKeyId {
  const parsed = parse(token);
  return parsed.ok ? { ok: true, keyId: parsed.claims.i } : parsed;
}

/**
 * Checks a token's signature (constant time) and expiry against `now`. A version 2 token is checked
 * with the key of `signingKeys` its key id names, a version 1 token with each of them. A token signed
 * with none of them, edited, or past its expiry is refused with the reason.
 */
export function verifyDownloadToken(
  token: string,
  signingKeys: string | Buffer | readonly (string | Buffer)[],
  now: Date,
): DownloadTokenVerdict {
  const parsed = parse(token);
  if (!parsed.ok) return parsed;
  const { claims, signed, given } = parsed;
  const keys = typeof signingKeys === 'string' || Buffer.isBuffer(signingKeys) ? [signingKeys] : signingKeys;
  const signedBy = keys.find(
    (key) =>
      (claims.i === undefined || signingKeyId(key) === claims.i) &&
      timingSafeEqualBytes(given, Buffer.from(mac(signed, key), 'base64url')),
  );
  if (signedBy === undefined) return { ok: false, problem: 'bad-signature' };
  const expiresAt = new Date(claims.e * 1000);
  if (now.getTime() >= expiresAt.getTime()) return { ok: false, problem: 'expired' };
  return { ok: true, grant: { key: claims.k, expiresAt } };
}

interface Claims {
  readonly i: string | undefined;
  readonly k: string;
  readonly e: number;
}

function parse(
  token: string,
):
  | { readonly ok: true; readonly claims: Claims; readonly signed: string; readonly given: Buffer }
  | { readonly ok: false; readonly problem: 'malformed' } {
  const malformed = { ok: false, problem: 'malformed' } as const;
  const dot = token.indexOf('.');
  if (token.length > MAX_TOKEN_LENGTH || dot <= 0 || dot !== token.lastIndexOf('.')) return malformed;
  const signed = token.slice(0, dot);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(signed, 'base64url').toString('utf8'));
  } catch {
    return malformed;
  }
  const { v, i, k, e } = (parsed ?? {}) as { v?: unknown; i?: unknown; k?: unknown; e?: unknown };
  if (typeof k !== 'string' || typeof e !== 'number' || !Number.isInteger(e)) return malformed;
  const keyed = v === VERSION && typeof i === 'string' && i.length > 0;
  if (!keyed && !(v === VERSION_WITHOUT_KEY_ID && i === undefined)) return malformed;
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  return { ok: true, claims: { i: keyed ? i : undefined, k, e }, signed, given };
}

function timingSafeEqualBytes(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function mac(claims: string, signingKey: string | Buffer): string {
  return createHmac('sha256', signingKey).update(claims).digest('base64url');
}
