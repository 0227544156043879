import { signDownloadToken } from './download-token.ts';

/** A link the `export.ready` mail carries, and when it stops working. */
export interface DownloadLink {
  readonly url: string;
  readonly expiresAt: Date;
}

/** Options of {@link downloadLinkFactory}. */
export interface DownloadLinkOptions {
  /** The download endpoint (the function URL `https://<id>.lambda-url.<region>.on.aws/`, locally `http://127.0.0.1:4566/lambda-url/export-download/`). */
  readonly baseUrl: string;
  /** The HMAC key the download endpoint verifies with. */
  readonly signingKey: string | Buffer;
  /** How long a link works. */
  readonly ttlSeconds: number;
}

/**
 * Makes a link to one object: `<base>?token=<token>`, working for the TTL from `now` but never past
 * `notAfter` (when S3 expires the object).
 */
export type DownloadLinkMaker = (key: string, now: Date, notAfter?: Date) => DownloadLink;

/** Makes links to {@link DownloadLinkOptions.baseUrl} with a signed token for one object: `<base>?token=<token>`. */
export function downloadLinkFactory(options: DownloadLinkOptions): DownloadLinkMaker {
  return (key, now, notAfter) => {
    const ttlEnd = Math.floor(now.getTime() / 1000) * 1000 + options.ttlSeconds * 1000;
    // Whole seconds, as the token carries them.
    const objectEnd = notAfter === undefined ? ttlEnd : Math.floor(notAfter.getTime() / 1000) * 1000;
    const expiresAt = new Date(Math.min(ttlEnd, objectEnd));
    const url = new URL(options.baseUrl);
    url.searchParams.set('token', signDownloadToken({ key, expiresAt }, options.signingKey));
    return { url: url.toString(), expiresAt };
  };
}
