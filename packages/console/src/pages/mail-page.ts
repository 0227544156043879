import { html } from '../html.ts';
import { listOutbox, readOutboxMail } from '../outbox.ts';
import { type Page, pager, table, time } from '../page.ts';

/** The local SMTP sink's outbox, newest first, a page at a time; `?job=` shows one job's mails. */
export const mailPage: Page = async (request) => {
  const { t, url, outboxDir } = request;
  if (!outboxDir) {
    return {
      title: t('mail.title'),
      body: html`<h1>${t('mail.title')}</h1><p class="note">${t('mail.localOnly')}</p>`,
    };
  }
  const cursor = url.searchParams.get('cursor') || undefined;
  const job = url.searchParams.get('job') || undefined;
  const page = await listOutbox(outboxDir, {
    ...(cursor ? { cursor } : {}),
    ...(job ? { mentioning: job } : {}),
  });
  return {
    title: t('mail.title'),
    live: !cursor,
    body: html`<h1>${t('mail.title')}${job ? html` · <a href="/jobs/${encodeURIComponent(job)}">${job}</a>` : ''}</h1>
      ${table(
        t,
        [t('col.date'), t('col.to'), t('col.subject')],
        page.items.map((mail) => [
          time(mail.date),
          mail.to,
          html`<a href="/mail/${mail.file}">${mail.subject || mail.file}</a>`,
        ]),
        { id: 'outbox', label: t('mail.title') },
      )}
      ${pager(request, page.next)}`,
  };
};

/** One mail, its HTML in a sandboxed frame (served by {@link mailHtml}) and its text. */
export const mailMessagePage: Page = async ({ t, params, outboxDir }) => {
  if (!outboxDir) return { redirect: '/mail' };
  const mail = await readOutboxMail(outboxDir, params.file ?? '');
  return {
    title: mail.subject,
    body: html`<h1>${mail.subject}</h1>
      <dl class="headers">
        <dt>${t('col.from')}</dt><dd>${mail.from}</dd>
        <dt>${t('col.to')}</dt><dd>${mail.to}</dd>
        <dt>${t('col.date')}</dt><dd>${time(mail.date)}</dd>
      </dl>
      ${
        mail.html !== null
          ? html`<h2>${t('mail.html')}</h2>
            <iframe class="mail-html" sandbox title="${mail.subject}" src="/mail/${mail.file}/html"></iframe>`
          : ''
      }
      <h2>${t('mail.text')}</h2>
      <pre class="mail-text">${mail.text ?? ''}</pre>`,
  };
};

/** A mail's HTML body as it is, for the sandboxed frame: the server sends it with a CSP allowing no scripts. */
export async function mailHtml(outboxDir: string, file: string): Promise<string> {
  return (await readOutboxMail(outboxDir, file)).html ?? '';
}
