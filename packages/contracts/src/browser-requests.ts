/**
 * What the local servers a developer's browser can reach (the operator console, the local cloud's
 * AWS endpoint) ask of a request before they answer it: that its `Host` is a loopback name, so a
 * page on a DNS-rebound name (the attacker's name resolving to 127.0.0.1) cannot reach them, and
 * what the browser says of where it came from (`Origin`, Fetch Metadata).
 */

/** The loopback names a `Host` header may carry: the addresses themselves and `localhost`. */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Whether `address` (what a server listens on) is a loopback one. */
export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK_NAMES.has(address);
}

/**
 * Whether a `Host` header names a loopback host, whatever its port: a browser leaves out :80, and
 * an SSH tunnel (`ssh -L 9000:...`) sends its own port; a DNS-rebound page cannot make its name a
 * loopback one. With `subdomainsOfLocalhost`, a name under `localhost.` too (`<bucket>.localhost`,
 * an S3 virtual-hosted-style bucket): such names are loopback ones by RFC 6761 §6.3, browsers resolve
 * them so without asking DNS, and no one can register one to rebind it.
 */
export function isLoopbackHost(
  header: string | undefined,
  options: { readonly subdomainsOfLocalhost?: boolean } = {},
): boolean {
  const name = (header ?? '').replace(/:\d+$/, '').toLowerCase();
  return (
    LOOPBACK_NAMES.has(name) || (options.subdomainsOfLocalhost === true && /^[^:]+\.localhost$/.test(name))
  );
}

/**
 * Whether an `Origin` header is a page of a loopback host (http or https, any port); `null` (a
 * sandboxed frame, a `file:` or `data:` page) and an origin that does not parse are not.
 */
export function isLoopbackOrigin(origin: string): boolean {
  const url = URL.parse(origin);
  return (
    url !== null &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    isLoopbackHost(url.host, { subdomainsOfLocalhost: true })
  );
}

/** The request headers these checks read (node:http's and fastify's lower-case ones). */
type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Whether a request is for a document the browser shows as a whole, not an image, a frame or a
 * fetch (`Sec-Fetch-Mode: navigate` with `Sec-Fetch-Dest: document`); a browser without Fetch
 * Metadata cannot say, and is taken at its word
 * (https://www.w3.org/TR/fetch-metadata/#sec-fetch-mode-header).
 */
export function isTopLevelNavigation(headers: RequestHeaders): boolean {
  const { 'sec-fetch-mode': mode, 'sec-fetch-dest': dest } = headers;
  return mode === undefined || (mode === 'navigate' && dest === 'document');
}
