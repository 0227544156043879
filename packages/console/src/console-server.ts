import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  isLoopbackAddress,
  isLoopbackHost,
  isTopLevelNavigation,
} from '@sidestep/contracts/browser-requests';
import { LedgerError, type OpsContext, OpsError } from '@sidestep/ops';
import { ConsoleError } from './console-error.ts';
import { DEFAULT_CONSOLE_PORT } from './default-port.ts';
import { escapeHtml, html } from './html.ts';
import { chooseLocale, type Locale, translator } from './i18n.ts';
import { layout, signInDocument } from './layout.ts';
import type { Download, Flash, Page, PageRequest, PageView, Redirect } from './page.ts';
import { auditPage } from './pages/audit-page.ts';
import { jobLogsPage, jobPage, jobsPage, rejectedRowsDownload, retryJobAction } from './pages/jobs-page.ts';
import { mailHtml, mailMessagePage, mailPage } from './pages/mail-page.ts';
import { overviewPage } from './pages/overview-page.ts';
import {
  asyncFailuresPage,
  deadLettersPage,
  queuesPage,
  redriveAction,
  redrivePreviewPage,
  reinvokeAction,
} from './pages/queues-page.ts';
import { fireAction, schedulesPage, stateAction } from './pages/schedules-page.ts';
import {
  executionPage,
  redriveExecutionAction,
  stopExecutionAction,
  workflowPage,
  workflowsPage,
} from './pages/workflows-page.ts';
import { SHARED_LISTING_MS, sharedListings } from './shared-listings.ts';

/** Options of {@link startConsole}. */
export interface ConsoleOptions {
  /** The environment operated: every read and action goes through `@sidestep/ops` with it. */
  readonly context: OpsContext;
  /** @default 4580; 0 picks a free port */
  readonly port?: number;
  /** The address to listen on. @default '127.0.0.1' (loopback only) */
  readonly host?: string;
  /** The local SMTP sink's outbox, for the Mail page; none on AWS. */
  readonly outboxDir?: string;
  /** How often a live page is re-rendered and pushed while it is open. @default 3000 */
  readonly refreshMs?: number;
  /**
   * How long a ListExecutions answer is shared between the console's pages, tabs and refreshes
   * ({@link sharedListings}); 0 shares none. @default {@link SHARED_LISTING_MS}
   */
  readonly listingShareMs?: number;
}

/** A console that is listening. */
export interface RunningConsole {
  /**
   * Where to open it, with the secret of this launch, e.g. `http://127.0.0.1:4580/?token=…`: whoever
   * opens it is signed in (see {@link startConsole}). Print it only where the operator alone reads it.
   */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends the open live streams (the context is the caller's to close). */
  close(): Promise<void>;
}

export { DEFAULT_CONSOLE_PORT };

interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly page: Page;
  /** An action's: the page its form is on, where a refusal is shown (as an error flash). */
  readonly back?: (request: PageRequest) => string;
  /**
   * A GET that receives a queue's messages to list them (see {@link receiving}): only the operator
   * may cause it, never another site.
   */
  readonly receives?: true;
}

const SEGMENT = '([^/]+)';

function route(method: Route['method'], path: string, page: Page, back?: Route['back']): Route {
  const source = path.replace(/:(\w+)/g, (_match, name: string) => `(?<${name}>${SEGMENT.slice(1, -1)})`);
  return { method, pattern: new RegExp(`^${source}$`), page, ...(back ? { back } : {}) };
}

/**
 * `page` lists a queue by receiving its messages. SQS has no read-only peek: a receive hides each
 * message for its visibility timeout and adds one to its ApproximateReceiveCount
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html), made
 * with the operator's credentials. So such a page, though a GET, acts, and {@link startConsole}
 * serves it only to the console's own pages and to an address the operator opened themselves.
 */
function receiving(page: Route): Route {
  return { ...page, receives: true };
}

/** The route of `method` whose pattern matches `path`, with its match (each pattern run once). */
function routeFor(
  method: Route['method'] | null,
  path: string,
): { readonly route: Route; readonly found: RegExpExecArray } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const found = route.pattern.exec(path);
    if (found) return { route, found };
  }
  return undefined;
}

/** Where an action on an execution (its `arn` field) came from: the execution's page. */
const toExecution: Route['back'] = ({ form }) =>
  `/executions?arn=${encodeURIComponent(form.get('arn') ?? '')}`;
const toSchedules: Route['back'] = () => '/schedules';

const ROUTES: readonly Route[] = [
  route('GET', '/', overviewPage),
  route('GET', '/workflows', workflowsPage),
  route('GET', '/workflows/:workflow', workflowPage),
  route('GET', '/executions', executionPage),
  route('POST', '/executions/redrive', redriveExecutionAction, toExecution),
  route('POST', '/executions/stop', stopExecutionAction, toExecution),
  route('GET', '/queues', queuesPage),
  receiving(route('GET', '/queues/:queue', deadLettersPage)),
  receiving(route('GET', '/queues/:queue/preview', redrivePreviewPage)),
  route(
    'POST',
    '/queues/:queue/redrive',
    redriveAction,
    ({ params }) => `/queues/${encodeURIComponent(params.queue ?? '')}/preview`,
  ),
  receiving(route('GET', '/async-failures/:service', asyncFailuresPage)),
  route(
    'POST',
    '/async-failures/:service/reinvoke',
    reinvokeAction,
    ({ params }) => `/async-failures/${encodeURIComponent(params.service ?? '')}`,
  ),
  route('GET', '/jobs', jobsPage),
  route('GET', '/jobs/:id', jobPage),
  route('GET', '/jobs/:id/rejected.csv', rejectedRowsDownload),
  route('GET', '/jobs/:id/logs', jobLogsPage),
  route(
    'POST',
    '/jobs/:id/retry',
    retryJobAction,
    ({ params }) => `/jobs/${encodeURIComponent(params.id ?? '')}`,
  ),
  route('GET', '/schedules', schedulesPage),
  route('POST', '/schedules/:name/fire', fireAction, toSchedules),
  route('POST', '/schedules/:name/pause', stateAction('pause'), toSchedules),
  route('POST', '/schedules/:name/resume', stateAction('resume'), toSchedules),
  route('GET', '/mail', mailPage),
  route('GET', '/mail/:file', mailMessagePage),
  route('GET', '/audit', auditPage),
];

/**
 * The console's own stylesheet and script, read once: no CDN, no build step. Found through the
 * package's own name (its `./assets/*` export), not this module's directory: the CLI bundles this
 * module into its own dist/, where the assets are not.
 */
const resolveAsset = createRequire(import.meta.url).resolve;
const ASSETS: ReadonlyMap<string, { readonly type: string; readonly body: Buffer }> = new Map(
  [
    ['console.css', 'text/css; charset=utf-8'],
    ['console.js', 'text/javascript; charset=utf-8'],
  ].map(([name, type]) => [
    `/assets/${name}`,
    { type: type as string, body: readFileSync(resolveAsset(`@sidestep/console/assets/${name}`)) },
  ]),
);

/**
 * What every page may load: only the console's own script, styles and frames. A mail's HTML gets
 * a stricter one of its own (see {@link MAIL_POLICY}).
 */
const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** A mail's HTML runs nothing and fetches nothing; its inline styles and data: images still show. */
const MAIL_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'";

/**
 * How many performed action ids a console remembers, the newest (see {@link startConsole}). A form
 * posted again comes within seconds of the first (a double click, a second press while the first
 * runs), and a person acts a few times a minute at most: a thousand is hours of use, in well under a
 * megabyte however long the console runs. An id older than that would act again.
 */
const REMEMBERED_ACTIONS = 1000;

/** Sets `key` as the newest entry of `map` and forgets the oldest beyond `limit` (a Map keeps insertion order). */
function remember<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= limit) break;
    map.delete(oldest);
  }
}

/** The longest a live page waits between reads that fail, unless its refresh is longer. */
const MAX_RETRY_MS = 30_000;

/**
 * `text` as the `data:` lines of one server-sent event. CR, LF and CRLF all end a line of an event
 * stream (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 */
function eventData(text: string): string {
  return `data: ${text.split(/\r\n|\r|\n/).join('\ndata: ')}\n`;
}

function isRedirect(result: PageView | Redirect | Download): result is Redirect {
  return 'redirect' in result;
}

function isDownload(result: PageView | Redirect | Download): result is Download {
  return 'download' in result;
}

/** `text` percent-decoded; undefined when its percent-encoding is malformed (`%ZZ`, a cut UTF-8 sequence). */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The request's cookies; one whose value is not percent-decodable is left out, as if not sent. */
function cookies(header: string | undefined): Map<string, string> {
  return new Map(
    (header ?? '')
      .split(';')
      .map((part) => part.trim().split('='))
      .filter((pair): pair is [string, string] => pair.length === 2 && Boolean(pair[0]))
      .map(([name, value]): [string, string | undefined] => [name, decoded(value)])
      .filter((pair): pair is [string, string] => pair[1] !== undefined),
  );
}

/**
 * Who made a request, as far as the browser says: the operator (`own`: a page of the console, or an
 * address typed in or bookmarked), `another` site (any other origin, another port of 127.0.0.1
 * included), or `unknown` (no browser header says: curl, or a browser that sends no Fetch Metadata
 * and no Referer).
 *
 * Fetch Metadata's `Sec-Fetch-Site` first: `same-origin`, or `none` for a navigation the user
 * started (https://www.w3.org/TR/fetch-metadata/#sec-fetch-site-header). A browser without it
 * (Safari before 16.4) is judged by its `Origin`, else its `Referer`, as a POST always was.
 */
function requestSource(request: IncomingMessage): 'own' | 'another' | 'unknown' {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? 'own' : 'another';
  const own = `http://${request.headers.host}`;
  const { origin, referer } = request.headers;
  if (origin !== undefined) return origin === own ? 'own' : 'another';
  if (referer === undefined) return 'unknown';
  return URL.parse(referer)?.origin === own ? 'own' : 'another';
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of request) {
    body += String(chunk);
    if (body.length > 65_536)
      throw new ConsoleError('body: a form is at most 64 KiB', { field: 'body', status: 413 });
  }
  return new URLSearchParams(body);
}

/** A thrown error's name and message (a thrown non-error's text as its message). */
function named(error: unknown): { readonly name: string; readonly message: string } {
  return error instanceof Error ? error : { name: 'Error', message: String(error) };
}

/** The flash a refused action shows on the page it came from: the error's name and message. */
function errorFlash(error: unknown): Flash {
  const { name, message } = named(error);
  return { kind: 'error', text: `${name}: ${message}` };
}

/**
 * `url`'s path and query as an address on this console. Its leading slashes are made one: to a
 * browser, `//evil.example/` (what `/.//evil.example/` parses to) is another host's.
 */
function ownAddress(url: URL): string {
  return url.pathname.replace(/^\/+/, '/') + url.search;
}

/** The first 128 bits of the HMAC-SHA256 of `text` under `key`, in base64url. */
function mac(key: string | Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url').slice(0, 22);
}

/** Whether `given` is `token`, in a time that does not depend on how much of it matched. */
function sameToken(given: string | null | undefined, token: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Renders `page` with what the ops library warned of while reading it (an execution it could not
 * describe, a queue the caller may not read: the page is partial) shown above the page's body, so the
 * operator reading it is told, not only the console's log (the context's own `warn` still hears each).
 */
async function withWarnings(page: Page, request: PageRequest): Promise<PageView | Redirect | Download> {
  const warnings: string[] = [];
  const context: OpsContext = Object.create(request.context, {
    warn: {
      value: (message: string) => {
        warnings.push(message);
        request.context.warn(message);
      },
    },
  });
  const view = await page({ ...request, context });
  if (warnings.length === 0 || isRedirect(view) || isDownload(view)) return view;
  return {
    ...view,
    body: html`<div class="flash flash-warning" role="status" id="warnings"><ul>${warnings.map(
      (warning) => html`<li>${warning}</li>`,
    )}</ul></div>${view.body}`,
  };
}

/**
 * Starts the operator console: server-rendered pages over `@sidestep/ops` (status, workflows and
 * executions, queues and dead letters, jobs, schedules, the local outbox, the audit trail) on
 * node:http, in English or Japanese. Live pages are pushed as server-sent events.
 *
 * Only whoever opened the URL it returns is served, as Jupyter does
 * (https://jupyter-server.readthedocs.io/en/latest/operators/security.html): that URL carries a secret
 * of this launch (`?token=`, 256 bits); a GET carrying it gets an HttpOnly, SameSite=Strict cookie
 * holding it and a redirect to the same address without it (so it stays out of the history and of
 * referrers); any other request without that cookie gets 401 and a page that says to open the URL
 * the console printed, with no data and no action token. Loopback alone is not enough: every user of
 * the machine can reach it, and the console acts with the operator's credentials. What this cannot
 * stop: a browser sends the cookie to every port of the host (RFC 6265 §8.5), so a page another local
 * user serves on 127.0.0.1 and the operator opens receives it (the README says so).
 *
 * Every action is a POST through the ops library, so it is audited like the CLI's, and acts once per
 * rendered form: each form carries a one-time action id (`action-id`, see {@link PageRequest.actionId}),
 * the same id posted again (a double click, a second press while the first runs) waits for the first
 * post and gets its answer, its flash under an id of its own (the browser may have read the first's
 * page before the second press cancelled it), and an id the console did not give that form's path is
 * refused (400). The newest {@link REMEMBERED_ACTIONS} performed ids, and unread flashes, are kept. Another site's
 * requests are refused even on loopback: a POST needs the per-server token its form carries, and a
 * browser's `Origin` (when sent) must be the console's own. Another site may only send the browser
 * to a page that changes nothing; not load one as an image, a frame or a fetch (a live page's
 * stream included), nor open a page that receives a queue's messages ({@link receiving}): such a
 * page is read only when the browser says the operator asked for it, and otherwise answers 403 with
 * a link that reads it. On a loopback address the `Host` must be a loopback name too, so a
 * DNS-rebound name cannot reach it.
 */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  // Every page reads through the same Step Functions client, its listings shared (see sharedListings).
  const context: OpsContext = Object.create(options.context, {
    clients: {
      value: {
        ...options.context.clients,
        sfn: sharedListings(options.context.clients.sfn, {
          ttlMs: options.listingShareMs ?? SHARED_LISTING_MS,
        }),
      },
    },
  });
  const host = options.host ?? '127.0.0.1';
  const refreshMs = options.refreshMs ?? 3000;
  const token = randomBytes(24).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  /** The flashes not yet shown, by the id their redirect carries; the newest last. */
  const flashes = new Map<string, Flash>();
  /** What each performed action id answered (its redirect with its flash), by id; the newest last. */
  const performed = new Map<string, Promise<PageView | Redirect | Download>>();
  /**
   * A form's action id: a nonce of the page view and the form (`view` is random per request), and a
   * MAC of it and the form's path under the token, so the server needs no list of the ids it gave.
   */
  const actionIds =
    (view: Buffer): PageRequest['actionId'] =>
    (action, fields = {}) => {
      const path = new URL(action, 'http://console').pathname;
      const nonce = mac(view, JSON.stringify([path, fields]));
      return `${nonce}.${mac(token, `${nonce} ${path}`)}`;
    };
  /** Whether `id` is an action id this console gave a form posting to `path`. */
  const issued = (id: string, path: string): boolean => {
    const [nonce, given, ...rest] = id.split('.');
    return rest.length === 0 && Boolean(nonce) && sameToken(given, mac(token, `${nonce} ${path}`));
  };
  const streams = new Set<ServerResponse>();
  let port = 0;

  // The name, not the port: a browser leaves out :80, and an SSH tunnel (`ssh -L 9000:...`) sends its
  // own port; a DNS-rebound page cannot make its name a loopback one. Same-origin checks compare with
  // whatever Host the browser sent (requestSource).
  const hostAllowed = (header: string | undefined) => !isLoopbackAddress(host) || isLoopbackHost(header);

  const send = (
    response: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    headers = {},
  ) => {
    response.writeHead(status, {
      'content-type': type,
      'content-security-policy': PAGE_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
      ...headers,
    });
    response.end(body);
  };

  /**
   * The page of a request that failed. An error the ops library or the ledger answered on purpose is
   * the request's fault (400), 404 when what it names does not exist (a job id, a queue's name); any
   * other is the console's (500). `read`: the request was a page's read, not an action, so its title
   * says what was not found or that the page could not be read, not that an action failed.
   */
  const errorView = (t: PageRequest['t'], error: unknown, read = false): PageView => {
    const status =
      error instanceof ConsoleError
        ? error.status
        : error instanceof OpsError || error instanceof LedgerError
          ? /NotFound|UnknownName/.test(error.name)
            ? 404
            : 400
          : 500;
    const { name, message } = named(error);
    const title = !read
      ? t('app.error')
      : status === 404
        ? t('app.notFoundOf', { what: message })
        : t('app.readFailed');
    return {
      title,
      status,
      body: html`<h1>${title}</h1><p class="error-box" id="error"><strong>${name}</strong>: ${message}</p>`,
    };
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? `${host}:${port}`}`);
    const cookie = cookies(request.headers.cookie);
    const locale: Locale = chooseLocale({
      query: url.searchParams.get('lang'),
      cookie: cookie.get('lang'),
      acceptLanguage: request.headers['accept-language'],
    });
    const t = translator(locale);
    const extraHeaders: Record<string, string> = {};
    if (url.searchParams.has('lang'))
      extraHeaders['set-cookie'] = `lang=${locale}; Path=/; SameSite=Lax; Max-Age=31536000`;

    const method = request.method === 'POST' ? 'POST' : request.method === 'GET' ? 'GET' : null;
    if (!hostAllowed(request.headers.host)) {
      send(response, 421, 'text/plain; charset=utf-8', 'misdirected request: not a loopback host\n');
      return;
    }
    // Named after the port: a browser sends a host's cookies to each of its ports, and two consoles
    // (npm start's, a `sidestep console`) must not sign each other out.
    const session = `sidestep-console-${port}`;
    const given = method === 'GET' ? url.searchParams.get('token') : null;
    // Only when there is one: a deletion writes the whole query again, in URLSearchParams' encoding.
    if (given !== null) url.searchParams.delete('token');
    if (given !== null && sameToken(given, secret)) {
      response.writeHead(303, {
        location: ownAddress(url),
        'set-cookie': `${session}=${secret}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      });
      response.end();
      return;
    }
    if (given !== null || !sameToken(cookie.get(session), secret)) {
      const again = method === 'GET' ? ownAddress(url) : undefined;
      send(response, 401, 'text/html; charset=utf-8', signInDocument({ locale, t, again }).value);
      return;
    }
    const render = (view: PageView, flash?: Flash) => layout(view, { context, locale, t, url }, flash).value;
    // A segment is decoded where a route or the mail frame names it; a malformed one (`%ZZ`, a cut
    // UTF-8 sequence) is the request's fault, said once here for all of them.
    if (decoded(url.pathname) === undefined) {
      const error = new ConsoleError(
        `path: ${url.pathname} is not a path: its percent-encoding is malformed`,
        { field: 'path', status: 400 },
      );
      send(response, 400, 'text/html; charset=utf-8', render(errorView(t, error)), extraHeaders);
      return;
    }
    const matched = routeFor(method, url.pathname);
    const candidate = matched?.route;

    const source = requestSource(request);
    const receives = method === 'GET' && candidate?.receives === true;
    if (
      (source === 'another' && (method !== 'GET' || receives || !isTopLevelNavigation(request.headers))) ||
      (source === 'unknown' && receives)
    ) {
      const again = url.pathname + url.search;
      send(
        response,
        403,
        'text/html; charset=utf-8',
        render({
          title: t('app.refused'),
          status: 403,
          body: receives
            ? html`<h1>${t('app.refused')}</h1><p class="error-box" id="error">${t('app.receiveRefused')}
                <a href="${again}">${t('app.receiveConfirm')}</a></p>`
            : html`<h1>${t('app.refused')}</h1><p class="error-box" id="error">${t('app.crossSite')}</p>`,
        }),
        extraHeaders,
      );
      return;
    }
    const asset = ASSETS.get(url.pathname);
    if (asset && request.method === 'GET') {
      send(response, 200, asset.type, asset.body, { 'cache-control': 'no-cache' });
      return;
    }
    const mailFrame = /^\/mail\/([^/]+)\/html$/.exec(url.pathname);
    if (mailFrame && request.method === 'GET' && options.outboxDir) {
      try {
        const body = await mailHtml(options.outboxDir, decodeURIComponent(mailFrame[1] ?? ''));
        send(response, 200, 'text/html; charset=utf-8', body, { 'content-security-policy': MAIL_POLICY });
      } catch (error) {
        send(
          response,
          error instanceof ConsoleError ? error.status : 500,
          'text/plain; charset=utf-8',
          String((error as Error).message),
        );
      }
      return;
    }

    const found = matched?.found;
    const match =
      candidate && found
        ? {
            route: candidate,
            params: Object.fromEntries(
              Object.entries(found.groups ?? {}).map(([name, value]) => [name, decodeURIComponent(value)]),
            ),
          }
        : undefined;
    if (!match) {
      send(
        response,
        404,
        'text/html; charset=utf-8',
        render({ title: t('app.notFound'), body: html`<h1>${t('app.notFound')}</h1>` }),
        extraHeaders,
      );
      return;
    }

    let form = new URLSearchParams();
    if (method === 'POST') {
      try {
        form = await readForm(request);
      } catch (error) {
        if (!(error instanceof ConsoleError)) throw error;
        // Too big a form: its status (413) and an error page naming the body, nothing acted on.
        send(response, error.status, 'text/html; charset=utf-8', render(errorView(t, error)), extraHeaders);
        request.resume();
        return;
      }
      // Another site's POST was refused above; one that does not say where it came from needs the token.
      if (!sameToken(form.get('token'), token)) {
        const view = errorView(t, new ConsoleError(t('app.forbidden'), { field: 'token', status: 403 }));
        send(response, 403, 'text/html; charset=utf-8', render(view), extraHeaders);
        return;
      }
      if (!issued(form.get('action-id') ?? '', url.pathname)) {
        const error = new ConsoleError(t('app.unknownAction', { path: url.pathname }), {
          field: 'action-id',
          status: 400,
        });
        send(response, 400, 'text/html; charset=utf-8', render(errorView(t, error)), extraHeaders);
        return;
      }
    }
    const pageRequest: PageRequest = {
      context,
      locale,
      t,
      url,
      params: match.params,
      form,
      token,
      actionId: actionIds(randomBytes(16)),
      outboxDir: options.outboxDir,
    };
    const page = match.route.page;

    if (method === 'GET' && request.headers.accept === 'text/event-stream') {
      await stream(pageRequest, page, response);
      return;
    }

    const answer = async (): Promise<PageView | Redirect | Download> => {
      try {
        return await withWarnings(page, pageRequest);
      } catch (error) {
        const back = match.route.back;
        // A refused action goes back to the page it came from, saying why there: the operator can read
        // the page again and act from it, where an error page of its own had no way back.
        return back
          ? { redirect: back(pageRequest), flash: errorFlash(error) }
          : errorView(t, error, method === 'GET');
      }
    };
    let result: PageView | Redirect | Download;
    if (method === 'POST') {
      // Each action id acts once: its form posted again (a double click, a second press while the
      // first runs) waits for the first post's answer and gets the same.
      const actionId = form.get('action-id') ?? '';
      let first = performed.get(actionId);
      if (!first) {
        first = answer();
        remember(performed, actionId, first, REMEMBERED_ACTIONS);
      }
      result = await first;
    } else {
      result = await answer();
    }
    if (isRedirect(result) && result.flash) {
      // Each answer's flash under an id of its own: a flash is shown once, and the page a repeated
      // post leads to must say what the press did even when the first answer's page was read.
      const id = randomBytes(8).toString('hex');
      remember(flashes, id, result.flash, REMEMBERED_ACTIONS);
      result = { redirect: `${result.redirect}${result.redirect.includes('?') ? '&' : '?'}flash=${id}` };
    }
    if (isDownload(result)) {
      const { fileName, type, body } = result.download;
      // The name is the console's own (a job id and a suffix), never a user's: quoting it is enough.
      send(response, 200, type, body, {
        ...extraHeaders,
        'content-disposition': `attachment; filename="${fileName.replaceAll('"', '')}"`,
      });
      return;
    }
    if (isRedirect(result)) {
      response.writeHead(303, { location: result.redirect, 'cache-control': 'no-store', ...extraHeaders });
      response.end();
      return;
    }
    const flashId = url.searchParams.get('flash');
    const flash = flashId ? flashes.get(flashId) : undefined;
    if (flashId) flashes.delete(flashId);
    send(response, result.status ?? 200, 'text/html; charset=utf-8', render(result, flash), extraHeaders);
  }

  /**
   * A live page's stream: the page's body re-rendered every `refreshMs` and, when it changed, sent
   * as one server-sent event while it is open; the browser's script swaps it in. A page that is no longer
   * live (a job that ended) sends its last body and an `end` event.
   *
   * A read that fails (a throttled API, the ledger a moment away) ends nothing: the browser keeps the
   * last body, a `stale` event tells it why it is not current, and the read is tried again after
   * twice as long each time (at most {@link MAX_RETRY_MS}); the next read that succeeds is sent
   * whether or not it changed, which clears the warning.
   */
  async function stream(request: PageRequest, page: Page, response: ServerResponse): Promise<void> {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    streams.add(response);
    let open = true;
    const closed = new AbortController();
    let sent: string | undefined;
    let failures = 0;
    response.on('close', () => {
      open = false;
      streams.delete(response);
      closed.abort();
    });
    const wait = (ms: number) => sleep(ms, undefined, { signal: closed.signal }).catch(() => undefined);
    while (open) {
      let view: PageView | Redirect | Download;
      try {
        view = await withWarnings(page, request);
      } catch (error) {
        if (!open) break;
        failures += 1;
        const { name, message } = named(error);
        response.write(`event: stale\n${eventData(`${name}: ${message}`)}\n`);
        await wait(Math.min(refreshMs * 2 ** failures, Math.max(refreshMs, MAX_RETRY_MS)));
        continue;
      }
      if (!open) break;
      if (isRedirect(view) || isDownload(view)) break;
      // Only a change is sent: the page the person is reading (and clicking in) stays as it is.
      if (view.body.value !== sent || failures > 0) {
        sent = view.body.value;
        response.write(`${eventData(sent)}\n`);
      }
      failures = 0;
      if (!view.live) {
        response.write('event: end\ndata: \n\n');
        break;
      }
      await wait(refreshMs);
    }
    response.end();
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        send(
          response,
          500,
          'text/plain; charset=utf-8',
          escapeHtml(String((error as Error)?.message ?? error)),
        );
      } else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_CONSOLE_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/?token=${secret}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const open of streams) open.end();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
