import {
  isLoopbackAddress,
  isLoopbackHost,
  isLoopbackOrigin,
  isTopLevelNavigation,
} from '@sidestep/contracts/browser-requests';
import type { buildApp } from 'fauxqs';
import { firstHeaderValue, splitRequestUrl } from './request-parts.ts';
import { S3ErrorResponse, sendS3Error } from './s3-error-response.ts';

type FauxqsApp = ReturnType<typeof buildApp>;

/** The request headers {@link browserRequestRefusal} reads. */
type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Why the endpoint refuses a request a browser sent for a page that is not the developer's own, or
 * `undefined` for one it serves.
 *
 * On AWS a request's SigV4 signature is what keeps another site's page from acting: a browser
 * cannot sign with the developer's secret key. The local cloud verifies no signature (there are no
 * secret keys locally: the access key id is the caller, local-iam.ts), so without this any page the
 * developer opens while `npm start` runs could act as the operator on http://127.0.0.1:4566 with a
 * "simple" request (a form, or `fetch(..., { mode: 'no-cors' })`, which no CORS preflight stops):
 * delete exports, receive or purge queues. This check stands in for the signature check, and AWS
 * makes none like it:
 *
 * - `421` a `Host` that is not a loopback name while the endpoint listens on loopback: a page on a
 *   DNS-rebound name (the attacker's, resolving to 127.0.0.1) is of the same origin as the endpoint
 *   and could read its answers. 421 Misdirected Request, as the console answers it, since the
 *   request names a host this server does not serve (RFC 9110 §15.5.20), which no signature fixes;
 *   an S3-style 400/403 would read as a refusal of the operation. Names under `localhost` stay
 *   served: fauxqs takes `<bucket>.localhost` as an S3 virtual-hosted-style bucket;
 * - `403 AccessDenied` a request the browser marks as another site's: an `Origin` that is not a
 *   loopback origin (`null` included), or `Sec-Fetch-Site: cross-site` or `same-site` (another port
 *   of this machine), https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header. Except a top-level
 *   GET or HEAD navigation (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`): the export
 *   mail's download link (the export-download function URL, redirecting to a presigned GetObject
 *   URL) is clicked from a mail, another site; a navigation shows its answer to the developer, not to
 *   the page, and no GET of this endpoint changes anything. A navigation whose query names a
 *   Query-protocol action (`?Action=`, which AWS's Query APIs take by GET too) is refused all the
 *   same, should one ever be served.
 *
 * What no browser sends (the SDK, the CLI, curl: no `Origin`, no Fetch Metadata) is not affected.
 */
export function browserRequestRefusal(
  request: { readonly method: string; readonly url: string; readonly headers: RequestHeaders },
  options: { readonly listensOn: string },
): { readonly statusCode: 421 } | S3ErrorResponse | undefined {
  const { headers } = request;
  if (
    isLoopbackAddress(options.listensOn) &&
    !isLoopbackHost(firstHeaderValue(headers.host), { subdomainsOfLocalhost: true })
  )
    return { statusCode: 421 };
  const origin = firstHeaderValue(headers.origin);
  const site = firstHeaderValue(headers['sec-fetch-site']);
  const foreignOrigin = origin !== undefined && !isLoopbackOrigin(origin);
  const anotherSite = site === 'cross-site' || site === 'same-site';
  if (!foreignOrigin && !anotherSite) return undefined;
  const navigation =
    !foreignOrigin &&
    (request.method === 'GET' || request.method === 'HEAD') &&
    isTopLevelNavigation(headers) &&
    !new URLSearchParams(splitRequestUrl(request.url).query).has('Action');
  if (navigation) return undefined;
  return new S3ErrorResponse(
    403,
    'AccessDenied',
    'The local cloud refuses a request a browser sent from another site (its Origin or Sec-Fetch-Site): it verifies no signature, which on AWS is what refuses it.',
  );
}

/** Refuses, before any other hook or route reads it, what {@link browserRequestRefusal} refuses. */
export function refuseBrowserRequestsOfOtherSites(
  app: FauxqsApp,
  options: { readonly listensOn: string },
): void {
  app.addHook('onRequest', async (request, reply) => {
    const refusal = browserRequestRefusal(request, options);
    if (refusal instanceof S3ErrorResponse) return sendS3Error(reply, refusal);
    if (refusal)
      return reply
        .code(refusal.statusCode)
        .header('content-type', 'text/plain; charset=utf-8')
        .send('misdirected request: not a loopback host\n');
  });
}
