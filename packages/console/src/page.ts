import type { OpsContext } from '@sidestep/ops';
import { html, type SafeHtml } from './html.ts';
import type { Locale, Translate } from './i18n.ts';

/** A message shown once on the page an action redirects to. */
export interface Flash {
  readonly kind: 'ok' | 'error';
  readonly text: string;
}

/** What a page handler gets: the environment, the language, the request and its form. */
export interface PageRequest {
  readonly context: OpsContext;
  readonly locale: Locale;
  readonly t: Translate;
  readonly url: URL;
  /** The path's named parts (`/jobs/:id` gives `id`), decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** A POST's fields (`application/x-www-form-urlencoded`). */
  readonly form: URLSearchParams;
  /** The per-server token every form carries (see `startConsole`). */
  readonly token: string;
  /**
   * The one-time action id of a form posting to `action` with `fields` on this page: the console
   * performs each id once, and answers its form posted again with the first post's outcome (see
   * `startConsole`). The same on each render of a live page's stream, different on another request.
   */
  readonly actionId: (action: string, fields?: Readonly<Record<string, string>>) => string;
  /** The local SMTP sink's outbox; none on AWS. */
  readonly outboxDir: string | undefined;
}

/** A rendered page; `live` pages are re-rendered and pushed to the browser while it is open. */
export interface PageView {
  readonly title: string;
  readonly body: SafeHtml;
  readonly live?: boolean;
  readonly status?: number;
}

/** Where an action sends the browser afterwards, with what to say there. */
export interface Redirect {
  readonly redirect: string;
  readonly flash?: Flash;
}

/** A file the browser saves (`Content-Disposition: attachment`) instead of a page. */
export interface Download {
  readonly download: {
    readonly fileName: string;
    /** The `Content-Type`, with its charset. */
    readonly type: string;
    readonly body: string | Buffer;
  };
}

/** One route's handler. */
export type Page = (request: PageRequest) => Promise<PageView | Redirect | Download>;

/**
 * The hidden fields of a form posting to `action`: the server's token, the form's one-time action id
 * (`action-id`) and `fields`.
 */
export function actionFields(
  request: PageRequest,
  action: string,
  fields: Readonly<Record<string, string>> = {},
): SafeHtml {
  return html`<input type="hidden" name="token" value="${request.token}">
    <input type="hidden" name="action-id" value="${request.actionId(action, fields)}">${Object.entries(
      fields,
    ).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}`;
}

/** Text a screen reader reads and the page does not show (the stylesheet's `.vh`). */
export function hiddenText(text: string): SafeHtml {
  return html`<span class="vh">${text}</span>`;
}

/**
 * A button posting to `action` with the server's token (and `fields`), for actions that change something.
 * `object` names what it acts on in its accessible name only: a row's "Run now" read out of its table
 * (a screen reader's list of buttons) says which schedule it runs, and the name still starts with the
 * words shown (https://www.w3.org/WAI/WCAG21/Understanding/label-in-name.html). `describedBy`, the id
 * of what explains it (why it is disabled).
 */
export function actionButton(
  request: PageRequest,
  action: string,
  label: string,
  options: {
    readonly fields?: Readonly<Record<string, string>>;
    readonly disabled?: boolean;
    readonly id?: string;
    readonly object?: string;
    readonly describedBy?: string;
  } = {},
): SafeHtml {
  return html`<form method="post" action="${action}" class="action">
    ${actionFields(request, action, options.fields)}
    <button type="submit"${options.id ? html` id="${options.id}"` : ''}${options.describedBy ? html` aria-describedby="${options.describedBy}"` : ''}${options.disabled ? html` disabled` : ''}>${label}${options.object ? hiddenText(` ${options.object}`) : ''}</button>
  </form>`;
}

/**
 * A table with `headers` and `rows` of cells; a "nothing here" line when there are no rows. The table
 * scrolls sideways in a region of its own, so a narrow window (320 CSS pixels) scrolls it and not the
 * page (https://www.w3.org/WAI/WCAG21/Understanding/reflow.html: a data table may need two
 * dimensions). The region is named `label` (what the table lists, as its section's heading says) and
 * takes the focus, so a keyboard can scroll it and a screen reader says what it is.
 */
export function table(
  t: Translate,
  headers: readonly string[],
  rows: readonly (readonly (SafeHtml | string | number | null)[])[],
  options: { readonly id?: string; readonly label: string },
): SafeHtml {
  if (rows.length === 0) return html`<p class="empty">${t('app.none')}</p>`;
  return html`<div class="table-scroll" role="region" aria-label="${options.label}" tabindex="0"><table${options.id ? html` id="${options.id}"` : ''}>
    <thead><tr>${headers.map((header) => html`<th>${header}</th>`)}</tr></thead>
    <tbody>${rows.map((row) => html`<tr>${row.map((cell) => html`<td>${cell ?? '—'}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

/** Links to the first page and, when there is one, the next (`cursor` = the list's next cursor). */
export function pager(request: PageRequest, next: string | null): SafeHtml {
  const first = new URL(request.url);
  first.searchParams.delete('cursor');
  const onFirst = !request.url.searchParams.has('cursor');
  const nextUrl = new URL(request.url);
  if (next) nextUrl.searchParams.set('cursor', next);
  return html`<nav class="pager" aria-label="${request.t('app.pages')}">
    ${onFirst ? '' : html`<a href="${first.pathname + first.search}">${request.t('app.first')}</a>`}
    ${next ? html`<a rel="next" href="${nextUrl.pathname + nextUrl.search}">${request.t('app.next')}</a>` : ''}
  </nav>`;
}

/** `date` as `YYYY-MM-DD HH:mm:ss` UTC in a `<time>` the browser can show in its own zone. */
export function time(date: Date | null | undefined): SafeHtml | null {
  if (!date) return null;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}Z</time>`;
}

/** A JSON document pretty-printed (as is when it is not JSON). */
export function jsonBlock(document: string | null): SafeHtml {
  if (document === null) return html`<p class="empty">—</p>`;
  let text = document;
  try {
    text = JSON.stringify(JSON.parse(document), null, 2);
  } catch {
    // Not JSON: shown as it came.
  }
  return html`<pre class="json">${text}</pre>`;
}

/** A coloured badge for a status or state (`FAILED`, `succeeded`). */
export function badge(value: string): SafeHtml {
  return html`<span class="badge badge-${value.toLowerCase()}">${value}</span>`;
}

/** The link to an execution's page. */
export function executionLink(arn: string, label?: string): SafeHtml {
  return html`<a href="/executions?arn=${encodeURIComponent(arn)}">${label ?? arn.split(':').at(-1)}</a>`;
}
