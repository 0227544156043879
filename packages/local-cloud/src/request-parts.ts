// The parts of an HTTP request the endpoint's hooks and APIs read, split one way everywhere.

/**
 * A request target's path and its query (after the first `?`, without it; a query may hold `?`
 * itself), each `''` when absent.
 */
export function splitRequestUrl(url: string): { readonly path: string; readonly query: string } {
  const [path = '', query = ''] = url.split(/\?(.*)/s);
  return { path, query };
}

/** A request header's value: Node gives a repeated header as an array, of which the first counts. */
export function firstHeaderValue(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value[0];
}
