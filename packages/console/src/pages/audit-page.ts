import { pageAudit } from '@sidestep/ops';
import { html } from '../html.ts';
import { badge, type Page, pager, table, time } from '../page.ts';

/** The operator actions, newest first, a page at a time. */
export const auditPage: Page = async (request) => {
  const { context, t, url } = request;
  const cursor = url.searchParams.get('cursor') || undefined;
  const page = await pageAudit(context, { ...(cursor ? { cursor } : {}), limit: 50 });
  return {
    title: t('audit.title'),
    body: html`<h1>${t('audit.title')}</h1>
      ${table(
        t,
        [t('col.at'), t('col.operator'), t('col.action'), t('col.target'), t('col.result'), t('col.details')],
        page.items.map((entry) => [
          time(entry.at),
          entry.operator,
          entry.action,
          entry.target,
          badge(entry.result),
          entry.error ?? html`<code>${JSON.stringify(entry.details)}</code>`,
        ]),
        { id: 'audit', label: t('audit.title') },
      )}
      ${pager(request, page.next)}`,
  };
};
