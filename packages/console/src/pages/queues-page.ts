import {
  asyncFailureStatuses,
  describeTrigger,
  hasRedriveSource,
  listAsyncFailures,
  listDeadLetters,
  queueStatuses,
  REINVOKE_LIMIT,
  redriveDeadLetters,
  reinvokeAsyncFailures,
  ruleDeadLetterStatuses,
} from '@sidestep/ops';
import { html, type SafeHtml } from '../html.ts';
import type { Translate } from '../i18n.ts';
import { actionButton, type Page, table, time } from '../page.ts';

/** How many dead letters a listing reads: SQS has no cursor, so a page is "the first n". */
const READ_LIMITS = [50, 200, 1000] as const;

/**
 * Every queue's depths and its DLQ's, what the DLQs without a source queue hold (the schedules' and
 * the rules'), and the failed asynchronous invocations kept, live.
 */
export const queuesPage: Page = async ({ context, t }) => {
  const [queues, ruleDeadLetters, asyncFailures] = await Promise.all([
    queueStatuses(context),
    ruleDeadLetterStatuses(context),
    asyncFailureStatuses(context),
  ]);
  return {
    title: t('queues.title'),
    live: true,
    body: html`<h1>${t('queues.title')}</h1>
      ${table(
        t,
        [t('col.queue'), t('col.visible'), t('col.inFlight'), t('col.delayed'), t('col.deadLetters')],
        queues.map((queue) => [
          html`<a href="/queues/${queue.queue}">${queue.queue}</a>`,
          queue.visible,
          queue.inFlight,
          queue.delayed,
          queue.deadLetters ? deadLetterCount(t, queue.queue, queue.deadLetters) : 0,
        ]),
        { id: 'queues', label: t('queues.title') },
      )}
      <h2>${t('queues.ruleDeadLetters')}</h2>
      ${table(
        t,
        [t('col.queue'), t('col.deadLetters'), t('col.oldest')],
        ruleDeadLetters.map((entry) => [
          html`<a href="/queues/${entry.queue}">${entry.queue}</a>`,
          entry.deadLetters ? deadLetterCount(t, entry.queue, entry.deadLetters) : 0,
          entry.oldestAgeSeconds === null ? null : `${entry.oldestAgeSeconds} s`,
        ]),
        { id: 'rule-dead-letters', label: t('queues.ruleDeadLetters') },
      )}
      <h2>${t('async.title')}</h2>
      ${table(
        t,
        [t('col.service'), t('col.failures'), t('col.oldest')],
        asyncFailures.map((entry) => [
          html`<a href="/async-failures/${entry.service}">${entry.service}</a>`,
          entry.failures
            ? html`<a class="bad" href="/async-failures/${entry.service}" aria-label="${t('async.count', { count: entry.failures, service: entry.service })}">${entry.failures}</a>`
            : 0,
          entry.oldestAgeSeconds === null ? null : `${entry.oldestAgeSeconds} s`,
        ]),
        { id: 'async-failures', label: t('async.title') },
      )}`,
  };
};

/**
 * A queue's dead-letter count as a link to them: a bare number read out of its table (a screen
 * reader's list of links) would not say what it counts, so its name does (WCAG 2.4.4), starting with
 * the number shown.
 */
function deadLetterCount(t: Translate, queue: string, count: number): SafeHtml {
  return html`<a class="bad" href="/queues/${queue}" aria-label="${t('overview.deadLetters', { count, queue })}">${count}</a>`;
}

function readLimit(value: string | null): number {
  const limit = Number(value);
  return READ_LIMITS.find((candidate) => candidate === limit) ?? READ_LIMITS[0];
}

/** What a listing read off a queue is (the first `limit`), with links to read more at `path`. */
function peekNote(t: Translate, path: string, limit: number): SafeHtml {
  return html`<p class="note">${t('queues.peekNote', { limit })}
    ${READ_LIMITS.filter((candidate) => candidate !== limit).map(
      (candidate) =>
        html` <a href="${path}?limit=${candidate}">${t('queues.more', { limit: candidate })}</a>`,
    )}</p>`;
}

/** A queue's dead letters with why each failed, and the way to a dry-run redrive. */
export const deadLettersPage: Page = async (request) => {
  const { context, t, url, params } = request;
  const queue = params.queue ?? '';
  const limit = readLimit(url.searchParams.get('limit'));
  const messages = await listDeadLetters(context, queue, { limit });
  return {
    title: t('queues.deadLetters', { queue }),
    body: html`<h1>${t('queues.deadLetters', { queue })}</h1>
      ${
        // A DLQ without a source queue has nowhere to redrive to (NoRedriveSourceError).
        hasRedriveSource(queue)
          ? html`<p><a class="button" id="preview-redrive" href="/queues/${queue}/preview">${t('queues.preview')}</a></p>`
          : html`<p class="note">${t('queues.noRedrive')}</p>`
      }
      ${table(
        t,
        [
          t('col.message'),
          t('col.type'),
          t('col.error'),
          t('col.reason'),
          t('col.receives'),
          t('col.started'),
        ],
        messages.map((message) => [
          html`<details><summary>${message.id ?? message.messageId}</summary>${bodyPreview(t, message.body)}</details>`,
          message.type,
          message.errorType,
          message.errorMessage,
          message.receiveCount,
          time(message.sentAt),
        ]),
        { id: 'dead-letters', label: t('queues.deadLetters', { queue }) },
      )}
      ${peekNote(t, `/queues/${queue}`, limit)}`,
  };
};

/** The dry run: every dead letter checked against today's contracts, nothing moved; then Redrive. */
export const redrivePreviewPage: Page = async (request) => {
  const { context, t, params } = request;
  const queue = params.queue ?? '';
  const result = await redriveDeadLetters(context, queue, { dryRun: true });
  const checks = result.dryRun ? result.checks : [];
  const total = result.dryRun ? result.total : 0;
  const valid = checks.filter((check) => check.valid).length;
  return {
    title: t('queues.previewTitle', { queue }),
    body: html`<h1>${t('queues.previewTitle', { queue })}</h1>
      <p id="preview-summary">${t('queues.summary', { valid, invalid: checks.length - valid })}${
        total > checks.length
          ? html` ${t('queues.unchecked', { checked: checks.length, total, unchecked: total - checks.length })}`
          : ''
      }</p>
      ${table(
        t,
        [t('col.message'), t('col.type'), t('col.error'), t('col.check')],
        checks.map((check) => [
          check.message.id ?? check.message.messageId,
          check.message.type,
          check.message.errorType,
          check.valid
            ? html`<span class="good">${t('queues.wouldPass')}</span>`
            : html`<span class="bad">${t('queues.wouldFail', { field: check.field ?? '' })}</span> ${check.reason ?? ''}`,
        ]),
        { id: 'checks', label: t('queues.previewTitle', { queue }) },
      )}
      ${checks.length ? actionButton(request, `/queues/${queue}/redrive`, t('queues.redrive', { count: total > checks.length ? `~${total}` : checks.length, queue }), { id: 'redrive' }) : ''}`,
  };
};

/**
 * POST: StartMessageMoveTask from the DLQ back to the queue, followed to its end (audited). A task
 * that ends other than COMPLETED is `MessageMoveTaskError`, shown on the preview as any refusal.
 */
export const redriveAction: Page = async ({ context, t, params }) => {
  const queue = params.queue ?? '';
  const result = await redriveDeadLetters(context, queue, { pollMs: 250 });
  const progress = result.dryRun ? null : result.progress;
  return {
    redirect: `/queues/${result.queue}`,
    flash: {
      kind: 'ok',
      text: t('queues.redriven', { status: progress?.status ?? '', moved: progress?.moved ?? 0 }),
    },
  };
};

/**
 * A service's failed asynchronous invocations with why each failed; each record (its event included)
 * folded away as a dead letter's body is; and the way to invoke them all again.
 */
export const asyncFailuresPage: Page = async (request) => {
  const { context, t, url, params } = request;
  const service = params.service ?? '';
  const limit = readLimit(url.searchParams.get('limit'));
  const failures = await listAsyncFailures(context, service, { limit });
  return {
    title: t('async.of', { service }),
    body: html`<h1>${t('async.of', { service })}</h1>
      <p>${t('async.intro', { queue: `${service}-async-failures` })}</p>
      ${table(
        t,
        [
          t('col.failedAt'),
          t('col.message'),
          t('col.condition'),
          t('col.attempts'),
          t('col.trigger'),
          t('col.error'),
          t('col.reason'),
        ],
        failures.map((failure) => [
          time(failure.failedAt),
          html`<details><summary>${failure.requestId ?? failure.messageId}</summary>${bodyPreview(t, failure.body)}</details>`,
          failure.condition,
          failure.attempts,
          failure.trigger && describeTrigger(failure.trigger),
          failure.errorType,
          failure.errorMessage,
        ]),
        { id: 'async-failure-records', label: t('async.of', { service }) },
      )}
      ${failures.length ? actionButton(request, `/async-failures/${service}/reinvoke`, t('async.reinvoke', { service, limit: REINVOKE_LIMIT }), { id: 'reinvoke' }) : ''}
      ${peekNote(t, `/async-failures/${service}`, limit)}`,
  };
};

/**
 * POST: every record in the service's queue (up to {@link REINVOKE_LIMIT}, not only those listed)
 * invoked again and deleted (audited, as the CLI's reinvoke --all).
 */
export const reinvokeAction: Page = async ({ context, t, params }) => {
  const service = params.service ?? '';
  const result = await reinvokeAsyncFailures(context, service, { all: true });
  return {
    redirect: `/async-failures/${result.service}`,
    flash: { kind: 'ok', text: t('async.reinvoked', { count: result.records.length }) },
  };
};

/**
 * The characters of a message's body a page shows: SQS takes bodies of up to 1 MiB, and a page of
 * 1,000 of them, escaped for HTML, would take gigabytes and seconds of the event loop to build (the
 * local cloud's too, under `npm start`). The CLI's `--json` prints every body whole.
 */
const BODY_PREVIEW_CHARS = 16_384;

/** A message's body, its first {@link BODY_PREVIEW_CHARS} characters when it is longer. */
function bodyPreview(t: Translate, body: string | null | undefined): SafeHtml {
  const text = body ?? '';
  if (text.length <= BODY_PREVIEW_CHARS) return html`<pre class="json">${text}</pre>`;
  return html`<pre class="json">${text.slice(0, BODY_PREVIEW_CHARS)}</pre>
    <p class="empty">${t('queues.bodyCut', { more: String(text.length - BODY_PREVIEW_CHARS) })}</p>`;
}
