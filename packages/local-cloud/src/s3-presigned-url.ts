import { S3ErrorResponse } from './s3-error-response.ts';

/**
 * The longest a SigV4 presigned URL is valid: `X-Amz-Expires` "is an integer. The minimum value you
 * can set is 1, and the maximum is 604800 (seven days)"
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
 */
export const PRESIGNED_URL_MAX_EXPIRES_SECONDS = 604_800;

/** The query parameters of a SigV4 presigned request (sigv4-query-string-auth.html). */
export const PRESIGNED_URL_PARAMETERS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Signature',
  'X-Amz-Date',
  'X-Amz-SignedHeaders',
  'X-Amz-Expires',
] as const;

/** `X-Amz-Date`: ISO 8601 basic format, UTC (`20261205T213000Z`). */
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

const queryError = (message: string) =>
  new S3ErrorResponse(400, 'AuthorizationQueryParametersError', message);

/** S3's ISO 8601 form of a time in its error documents (`2026-12-05T21:30:00Z`). */
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * What S3 answers a presigned request (any of {@link PRESIGNED_URL_PARAMETERS} in its query) whose
 * validity it refuses,
 * before it authorizes anything; `undefined` for a presigned request still valid at `now` (epoch ms)
 * and for any other request. The local cloud does not verify signatures (no secret keys), but
 * a URL's lifetime needs none: without this check an expired download link, or one presigned for
 * longer than S3 allows, worked locally and failed on AWS.
 *
 * - a parameter missing: 400 `AuthorizationQueryParametersError`. Locally this matters beyond S3's
 *   answer: a query's `X-Amz-Credential` names the caller only in a whole presigned URL
 *   ({@link isPresignedQuery}), so `?X-Amz-Credential=<any key>` alone is refused here rather than
 *   taken as that key's request;
 * - `X-Amz-Expires` not a whole number, or over {@link PRESIGNED_URL_MAX_EXPIRES_SECONDS}: 400
 *   `AuthorizationQueryParametersError` ("X-Amz-Expires must be less than a week (in seconds) that
 *   is 604800");
 * - `X-Amz-Date` not in ISO 8601 basic format: 400 `AuthorizationQueryParametersError`;
 * - past `X-Amz-Date` + `X-Amz-Expires`: 403 `AccessDenied` "Request has expired", with the
 *   `X-Amz-Expires`, `Expires` and `ServerTime` elements S3 adds.
 *
 * A URL presigned with temporary credentials also ends with their session
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html); local roles
 * have no sessions that end, so that is not checked.
 */
export function presignedUrlError(query: URLSearchParams, now: number): S3ErrorResponse | undefined {
  if (!PRESIGNED_URL_PARAMETERS.some((name) => query.has(name))) return undefined;
  const missing = PRESIGNED_URL_PARAMETERS.filter((name) => !query.get(name));
  if (missing.length > 0) {
    return queryError(
      `Query-string authentication version 4 requires the ${PRESIGNED_URL_PARAMETERS.join(', ')} parameters (missing: ${missing.join(', ')}).`,
    );
  }
  const expires = query.get('X-Amz-Expires') ?? '';
  if (!/^\d+$/.test(expires)) return queryError('X-Amz-Expires should be a number');
  const seconds = Number(expires);
  if (seconds > PRESIGNED_URL_MAX_EXPIRES_SECONDS) {
    return queryError(
      `X-Amz-Expires must be less than a week (in seconds) that is ${PRESIGNED_URL_MAX_EXPIRES_SECONDS}`,
    );
  }
  const date = AMZ_DATE.exec(query.get('X-Amz-Date') ?? '');
  const [, year, month, day, hour, minute, second] = date ?? [];
  const signedAt = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (!date || Number.isNaN(signedAt)) {
    return queryError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  }
  const expiresAt = signedAt + seconds * 1000;
  if (now <= expiresAt) return undefined;
  return new S3ErrorResponse(403, 'AccessDenied', 'Request has expired', [
    ['X-Amz-Expires', expires],
    ['Expires', isoSeconds(expiresAt)],
    ['ServerTime', isoSeconds(now)],
  ]);
}

/**
 * Whether `query` carries every parameter of a SigV4 presigned URL ({@link PRESIGNED_URL_PARAMETERS}):
 * only then does its `X-Amz-Credential` name the caller, as S3 reads the credential of a query only
 * as part of query-string authentication (sigv4-query-string-auth.html).
 */
export function isPresignedQuery(query: URLSearchParams): boolean {
  return PRESIGNED_URL_PARAMETERS.every((name) => query.get(name));
}
