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

/** Makes links to {@link DownloadLinkOptions.baseUrl} with a signed token for one object: `<base>?token=<token>`. */
export function downloadLinkFactory(options: DownloadLinkOptions): (key: string, now: Date) => DownloadLink {
  return (key, now) => {
    const expiresAt = new Date(Math.floor(now.getTime() / 1000) * 1000 + options.ttlSeconds * 1000);
    const url = new URL(options.baseUrl);
    url.searchParams.set('token', signDownloadToken({ key, expiresAt }, options.signingKey));
    return { url: url.toString(), expiresAt };
  };
}
