import type { OpsContext } from '@sidestep/ops';
import { html, type SafeHtml } from './html.ts';
import { LOCALES, type Locale, type MessageKey, type Translate } from './i18n.ts';
import type { Flash, PageView } from './page.ts';

const NAV: readonly { readonly href: string; readonly key: MessageKey }[] = [
  { href: '/', key: 'nav.overview' },
  { href: '/workflows', key: 'nav.workflows' },
  { href: '/queues', key: 'nav.queues' },
  { href: '/jobs', key: 'nav.jobs' },
  { href: '/schedules', key: 'nav.schedules' },
  { href: '/mail', key: 'nav.mail' },
  { href: '/audit', key: 'nav.audit' },
];

/**
 * The whole document around a page: a link past the header to the page's content (the first Tab,
 * https://www.w3.org/WAI/WCAG21/Understanding/bypass-blocks.html), header, navigation, language
 * switcher, the flash, the page.
 *
 * The flash (what an action did) takes the focus when the page opens: after a button pressed, the
 * next Tab goes on from the result, not from the top of the page, and a screen reader reads it
 * (https://www.w3.org/WAI/WCAG21/Understanding/focus-order.html). It stays outside <main>: a live
 * page's updates replace main's content, and would take it away.
 *
 * A live page also has an empty status region outside <main>, there from the start so that assistive
 * technology listens to it: the page's script writes into it when an update changes the state the
 * page's heading shows (https://www.w3.org/WAI/WCAG21/Understanding/status-messages.html).
 */
export function layout(
  view: PageView,
  page: { readonly context: OpsContext; readonly locale: Locale; readonly t: Translate; readonly url: URL },
  flash: Flash | undefined,
): SafeHtml {
  const { t, url, locale } = page;
  const current = (href: string) =>
    href === '/' ? url.pathname === '/' : url.pathname === href || url.pathname.startsWith(`${href}/`);
  const switchTo = (target: Locale) => {
    const link = new URL(url);
    link.searchParams.set('lang', target);
    return link.pathname + link.search;
  };
  return html`<!doctype html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${view.title} · sidestep</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/console.css">
<script type="module" src="/assets/console.js"></script>
</head>
<body${view.live ? html` data-live="true"` : ''}>
<a class="skip-link" href="#main">${t('app.skipToMain')}</a>
<header>
  <a class="brand" href="/">sidestep</a>
  <span class="environment environment-${page.context.environment}">${t('app.environment', { environment: page.context.environment })}</span>
  <nav aria-label="${t('app.sections')}">${NAV.map(
    (item) =>
      html`<a href="${item.href}"${current(item.href) ? html` aria-current="page"` : ''}>${t(item.key)}</a>`,
  )}</nav>
  <span class="live-indicator" hidden>● ${t('app.live')}</span>
  <nav class="languages" aria-label="${t('app.language')}">${LOCALES.map((target) =>
    target === locale
      ? html`<strong lang="${target}">${target.toUpperCase()}</strong>`
      : html`<a lang="${target}" hreflang="${target}" href="${switchTo(target)}">${target.toUpperCase()}</a>`,
  )}</nav>
</header>
${flash ? html`<p class="flash flash-${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}" tabindex="-1" autofocus>${flash.text}</p>` : ''}
${
  view.live
    ? html`<p class="live-stale flash-warning" id="live-stale" role="status" hidden>${t('app.stale')} <span class="live-stale-error"></span></p>
<p class="vh" id="live-announce" role="status"></p>`
    : ''
}
<main id="main" tabindex="-1">${view.body}</main>
</body>
</html>`;
}

/**
 * The whole answer to a request that is not signed in: how to sign in, and nothing of the
 * environment (no navigation, no environment name, no form and so no action token). `again`, a
 * GET's own address: a browser that is signed in sends no SameSite=Strict cookie when another site
 * (a link in a chat) sent it here, and does from a link of the console's own page.
 */
export function signInDocument(page: {
  readonly locale: Locale;
  readonly t: Translate;
  readonly again: string | undefined;
}): SafeHtml {
  const { t, locale, again } = page;
  return html`<!doctype html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<title>${t('app.signIn')} · sidestep</title>
<link rel="icon" href="data:,">
</head>
<body>
<main><h1>${t('app.signIn')}</h1><p id="error">${t('app.signInHow')}</p>
${again ? html`<p>${t('app.signInAgain')} <a id="again" href="${again}">${t('app.signInAgainLink')}</a></p>` : ''}</main>
</body>
</html>`;
}
