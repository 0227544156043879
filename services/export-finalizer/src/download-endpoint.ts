import type { DownloadKeyring } from './domain/download-keyring.ts';
import {
  type DownloadTokenProblem,
  downloadTokenKeyId,
  verifyDownloadToken,
} from './domain/download-token.ts';
import type { StoredObject } from './domain/export-object-store.ts';
import { DOWNLOAD_METHODS, type PresignOptions } from './domain/presign-options.ts';

/** A plain HTTP response: what a Lambda function URL returns and what a local server writes. */
export interface DownloadResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Options of {@link createDownloadEndpoint}. */
export interface DownloadEndpointOptions {
  /** The exports bucket (`sidestep-<env>-exports`): the only bucket a token can open. */
  readonly bucket: string;
  /**
   * The keys a token may be signed with: the current and the previous one of the signing secret (a
   * {@link DownloadKeyring}, kept for the function instance's life).
   */
  readonly signingKeys: Pick<DownloadKeyring, 'keysFor'>;
  /** Is the object still there? (HeadObject; exports expire by lifecycle.) */
  readonly head: (bucket: string, key: string) => Promise<StoredObject | undefined>;
  /**
   * Presigns a GetObject (for `GET`) or a HeadObject (for `HEAD`) now, with the endpoint's current
   * credentials (`s3Presigner`).
   */
  readonly presign: (bucket: string, key: string, options: PresignOptions) => Promise<string>;
  /** How long the redirect's presigned URL lives. @default 300 (5 minutes) */
  readonly redirectTtlSeconds?: number;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/**
 * A request to the download endpoint: its HTTP method (a function URL event's
 * `requestContext.http.method`) and its `token` query parameter.
 */
export type DownloadRequest = { readonly method: string | undefined; readonly token: string | undefined };

const STATUS: Record<DownloadTokenProblem, number> = { malformed: 403, 'bad-signature': 403, expired: 410 };

/** Keys a token may name: a combined export, never a part or a manifest. */
const EXPORT_KEY = /^exports\/[A-Za-z0-9._:-]+\/[A-Za-z0-9][A-Za-z0-9._-]*\.csv\.gz$/;

/**
 * The download endpoint the `export.ready` mail links to. It checks the link's token (HMAC-SHA256,
 * expiry), checks the export still exists, and answers `302 Found` to a URL presigned at this moment
 * for {@link DownloadEndpointOptions.redirectTtlSeconds}: a GetObject for a GET, a HeadObject for a
 * HEAD. A presigned URL is signed for one HTTP method (S3 answers any other with 403
 * SignatureDoesNotMatch, https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
 * and download managers, link checkers and `curl -I -L` send HEAD. The mail's link therefore lives
 * as long as its token says (days), while every S3 URL is minutes old and signed by credentials that
 * are valid now. On AWS it runs as a Lambda function URL (`downloadHandler` in the same image);
 * locally the local cloud mounts it on its endpoint.
 *
 * Answers: 405 (`Allow: GET, HEAD`) any other method, 400 no token, 403 a token signed with neither
 * the current nor the previous key (or edited), 410 an expired token or an export that is gone, 302 otherwise. Responses are never cached and send no referrer.
 */
export function createDownloadEndpoint(
  options: DownloadEndpointOptions,
): (request: DownloadRequest) => Promise<DownloadResponse> {
  const now = options.now ?? (() => new Date());
  const redirectTtl = options.redirectTtlSeconds ?? 300;
  return async (request) => {
    const method = DOWNLOAD_METHODS.find((allowed) => allowed === request.method);
    if (method === undefined) {
      return text(405, 'this download link answers GET and HEAD only', {
        allow: DOWNLOAD_METHODS.join(', '),
      });
    }
    if (!request.token) return text(400, 'token: missing; use the link from the mail as it is');
    const named = downloadTokenKeyId(request.token);
    const verdict = named.ok
      ? verifyDownloadToken(request.token, await options.signingKeys.keysFor(named.keyId), now())
      : named;
    if (!verdict.ok) {
      return text(
        STATUS[verdict.problem],
        verdict.problem === 'expired'
          ? 'this download link has expired; request the export again'
          : 'this download link is not valid',
      );
    }
    const { key } = verdict.grant;
    if (!EXPORT_KEY.test(key)) return text(403, 'this download link is not valid');
    const object = await options.head(options.bucket, key);
    if (!object) return text(410, 'this export is no longer available; request the export again');
    const location = await options.presign(options.bucket, key, {
      method,
      expiresInSeconds: redirectTtl,
      fileName: key.slice(key.lastIndexOf('/') + 1),
    });
    return {
      statusCode: 302,
      headers: { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
      body: '',
    };
  };
}

function text(statusCode: number, message: string, headers: Record<string, string> = {}): DownloadResponse {
  return {
    statusCode,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      ...headers,
    },
    body: `${message}\n`,
  };
}
