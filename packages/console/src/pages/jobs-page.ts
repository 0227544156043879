import {
  allRejectedRows,
  describeJob,
  type ExportProgress,
  executionRunsJob,
  type ImportStaging,
  type JobDetail,
  type JobSummary,
  type JobView,
  jobLogs,
  listRejectedRows,
  logFieldsText,
  MAX_JOB_LOG_LINES,
  type MailRecord,
  mailRecordExpired,
  pageJobs,
  type RoomWait,
  rejectedRowsCsv,
  retryJob,
} from '@sidestep/ops';
import { html, type SafeHtml } from '../html.ts';
import type { Locale, Translate } from '../i18n.ts';
import {
  actionButton,
  badge,
  executionLink,
  type Page,
  type PageRequest,
  pager,
  table,
  time,
} from '../page.ts';

const STATES = ['registered', 'running', 'succeeded', 'failed'];

/**
 * `n` with the locale's digit grouping. One formatter per locale for the server's life: building an
 * `Intl.NumberFormat` loads its locale data, and a live job page is rendered again every few seconds.
 */
function formatCount(locale: Locale, n: number): string {
  let format = COUNT_FORMATS.get(locale);
  if (!format) {
    format = new Intl.NumberFormat(locale);
    COUNT_FORMATS.set(locale, format);
  }
  return format.format(n);
}
const COUNT_FORMATS = new Map<Locale, Intl.NumberFormat>();
const KINDS = ['import', 'export'];

/**
 * Rows so far out of the total where the ledger knows it (an import's count). An export's
 * `rows_total` is the rows its file holds, set once it is written (it has no `rows_imported`): a
 * full bar once it is, a bar without a count while it runs (its page says the rows read so far).
 * Each bar is named by the words shown next to it: a progress bar without a name is read as a bare
 * percentage (https://www.w3.org/WAI/WCAG21/Understanding/name-role-value.html).
 */
export function progress(t: Translate, job: JobSummary): SafeHtml | null {
  if (job.kind === 'export') {
    if (job.rowsTotal !== null) {
      const total = job.rowsTotal;
      const exported = t('job.rowsExported', { total });
      const bar =
        job.state === 'failed'
          ? ''
          : html`<progress max="${total || 1}" value="${total || 1}" aria-label="${exported}"></progress>`;
      return html`${bar}
      <span class="count">${exported}</span>`;
    }
    return job.state === 'running' ? html`<progress aria-label="${t('col.progress')}"></progress>` : null;
  }
  const done = (job.rowsImported ?? 0) + (job.rowsRejected ?? 0);
  if (job.rowsTotal !== null && job.rowsTotal > 0) {
    const rows = t('job.rows', { done, total: job.rowsTotal });
    return html`<progress max="${job.rowsTotal}" value="${done}" aria-label="${rows}"></progress>
      <span class="count">${rows}</span>`;
  }
  if (job.state === 'running') {
    const rows = t('job.rowsNoTotal', { done });
    return html`<progress aria-label="${rows}"></progress> <span class="count">${rows}</span>`;
  }
  return null;
}

/**
 * How far a running import's staging has got: bytes of its object (a bar, and the percentage rounded
 * down, where its size is known), records, segments validated and the rows they rejected so far.
 */
function stagingProgress(t: Translate, locale: Locale, staging: ImportStaging): SafeHtml {
  const mebibytes = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const { bytesStaged, bytesTotal } = staging;
  const sized = bytesTotal !== null && bytesTotal > 0;
  const bytes = sized
    ? t('job.stagingBytes', {
        staged: mebibytes(bytesStaged),
        total: mebibytes(bytesTotal),
        percent: Math.floor((bytesStaged * 100) / bytesTotal),
      })
    : t('job.stagingBytesNoTotal', { staged: mebibytes(bytesStaged) });
  const line = t('job.stagingProgress', {
    records: formatCount(locale, staging.recordsStaged),
    bytes,
    validated: formatCount(locale, staging.segmentsValidated),
    segments: formatCount(locale, staging.segmentsStaged),
    rejected: formatCount(locale, staging.rowsRejectedSoFar),
  });
  return html`<p id="job-staging">${sized ? html`<progress max="${bytesTotal}" value="${bytesStaged}" aria-label="${bytes}"></progress> ` : ''}<strong>${t('job.staging')}:</strong> ${line}
    <span class="count">(${t('col.updated')} ${time(staging.updatedAt)})</span></p>`;
}

/**
 * How far an export has got (its task records it every 10 s): rows read, parts uploaded and their
 * compressed MiB; a failed export's, how far it got.
 */
function exportProgressLine(t: Translate, locale: Locale, progress: ExportProgress): SafeHtml {
  const line = t('job.exportProgressLine', {
    rows: formatCount(locale, progress.rows),
    parts: formatCount(locale, progress.parts),
    bytes: (progress.bytes / 2 ** 20).toFixed(1),
  });
  return html`<p id="job-export-progress"><strong>${t('job.exportProgress')}:</strong> ${line}
    <span class="count">(${t('col.updated')} ${time(progress.updatedAt)})</span></p>`;
}

/**
 * A list's long value (a file name, a reason) capped to a few lines by the stylesheet, whole in its
 * title; in a `<bdi>`, so a right-to-left name does not reorder the text around it.
 */
function clipped(value: string | null): SafeHtml | null {
  return value === null ? null : html`<bdi class="clip" title="${value}">${value}</bdi>`;
}

/** The ledger, newest first, filtered by state and kind, a page at a time (keyset cursor). */
export const jobsPage: Page = async (request) => {
  const { context, t, url } = request;
  const state = url.searchParams.get('status') || undefined;
  const kind = url.searchParams.get('kind') || undefined;
  const cursor = url.searchParams.get('cursor') || undefined;
  const page = await pageJobs(context, {
    ...(state ? { status: state } : {}),
    ...(kind ? { kind } : {}),
    ...(cursor ? { cursor } : {}),
    limit: 50,
  });
  const filter = (name: 'status' | 'kind', value: string | null, chosen: string | undefined) => {
    const link = new URL(url);
    link.searchParams.delete('cursor');
    if (value) link.searchParams.set(name, value);
    else link.searchParams.delete(name);
    const label = value ?? t('jobs.all');
    return value === (chosen ?? null)
      ? html`<strong aria-current="true">${label}</strong>`
      : html`<a href="${link.pathname + link.search}">${label}</a>`;
  };
  return {
    title: t('jobs.title'),
    live: !cursor,
    body: html`<h1>${t('jobs.title')}</h1>
      <nav class="filters" aria-label="${t('col.state')}">${[null, ...STATES].map((value) => filter('status', value, state))}</nav>
      <nav class="filters" aria-label="${t('col.kind')}">${[null, ...KINDS].map((value) => filter('kind', value, kind))}</nav>
      ${table(
        t,
        [
          t('col.job'),
          t('col.kind'),
          t('col.state'),
          t('col.attempt'),
          t('col.file'),
          t('col.progress'),
          t('col.error'),
          t('col.created'),
        ],
        page.items.map((job) => [
          html`<a href="/jobs/${job.id}">${job.id}</a>`,
          job.kind,
          badge(job.state),
          job.attempt,
          clipped(job.fileName),
          progress(t, job),
          clipped(job.error),
          time(job.createdAt),
        ]),
        { id: 'jobs', label: t('jobs.title') },
      )}
      ${pager(request, page.next)}`,
  };
};

/** Rejected rows a page of the job page lists. */
const REJECTED_ROWS_PAGE = 100;

/**
 * An import's rejected rows: for a completed import every one, a page at a time (`?cursor=<line>`),
 * from the ledger's `import_rejected_rows`; for one that failed or runs, the first ones its task
 * recorded on the job (a failed import imported nothing). Nothing when it rejected none.
 */
async function rejectedRows(request: PageRequest, job: JobDetail): Promise<SafeHtml | ''> {
  const { t, context, url, locale } = request;
  const count = job.rowsRejected ?? 0;
  if (job.kind !== 'import' || (count === 0 && job.rowErrors.length === 0)) return '';
  const counted = formatCount(locale, count);
  let rows: readonly { line: number; field: string; message: string }[];
  let note: SafeHtml | string;
  let more: SafeHtml | string = '';
  if (job.state === 'succeeded') {
    const cursor = url.searchParams.get('cursor');
    // A cursor that is not a line number is refused by the ops library, naming `after`.
    const page = await listRejectedRows(context, job.id, {
      limit: REJECTED_ROWS_PAGE,
      ...(cursor ? { after: Number(cursor) } : {}),
    });
    rows = page.rows;
    note = html`${t('job.rejectedNote')} <a id="rejected-csv" href="/jobs/${encodeURIComponent(job.id)}/rejected.csv" download>${t('job.rejectedCsv')}</a>`;
    more = pager(request, page.next === null ? null : String(page.next));
  } else {
    rows = job.rowErrors as typeof rows;
    note = t('job.rowErrorsNote', { shown: rows.length, count: counted });
  }
  return html`<section id="job-rejected"><h2>${t('job.rejected', { count: counted })}</h2>
    <p class="meta">${note}</p>
    ${table(
      t,
      [t('col.line'), t('col.field'), t('col.reason')],
      rows.map((row) => [row.line, row.field, row.message]),
      { id: 'rejected-rows', label: t('job.rejected', { count: counted }) },
    )}
    ${more}
  </section>`;
}

/**
 * What became of the failure mail of a job the job-sweeper failed: queued, refused for good (the
 * requester was never told), or still pending with its last error.
 */
function sweepMailLine(t: Translate, mail: NonNullable<JobDetail['sweepMail']>): SafeHtml {
  if (mail.queuedAt) {
    return html`<p id="job-sweep-mail"><strong>${t('job.sweepMailQueued')}:</strong> ${time(mail.queuedAt)}</p>`;
  }
  if (mail.refusedAt) {
    return html`<p class="error-box" id="job-sweep-mail"><strong>${t('job.sweepMailRefused')}:</strong> ${mail.error ?? ''} (${time(mail.refusedAt)})</p>`;
  }
  return html`<p class="error-box" id="job-sweep-mail"><strong>${t('job.sweepMailPending')}:</strong>${mail.error === null ? '' : html` ${mail.error}`}</p>`;
}

/**
 * What runs a job that has not ended. Its task that failed transiently (exit 75) is run again after
 * a wait by its execution, but only while that execution runs: one that ended (stopped with the
 * local cloud, killed, timed out) runs nothing until an operator redrives it (Redrive, when Step
 * Functions will: https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html)
 * or fails the job. An execution whose status is unknown promises nothing.
 */
function whatRunsIt(request: PageRequest, job: JobView): SafeHtml | '' {
  const { t } = request;
  if (job.state !== 'running' && job.state !== 'registered') return '';
  const execution = job.latestExecution;
  const runs = executionRunsJob(execution);
  if (runs) {
    const rerunning = job.workerError
      ? html`<p class="error-box" id="job-rerunning"><strong>${t('job.rerunning')}:</strong> ${job.workerError}</p>`
      : '';
    return html`${rerunning}${waitingForRoom(t, execution?.waitingForRoom ?? null)}`;
  }
  const failure = job.workerError
    ? html`<p id="job-task-failure"><strong>${t('job.taskFailure')}:</strong> ${job.workerError}</p>`
    : '';
  if (!execution || runs === null) return failure;
  const status = execution.status ?? '';
  const redrivable = execution.redriveStatus !== 'NOT_REDRIVABLE';
  return html`<section class="error-box" id="job-stalled">
    <p><strong>${t('job.stalled', { status })}</strong> ${executionLink(execution.executionArn)} (${t('col.stopped')} ${time(execution.stopDate)})</p>
    ${failure}
    ${
      redrivable
        ? actionButton(request, '/executions/redrive', t('execution.redrive'), {
            fields: { arn: execution.executionArn },
            id: 'redrive-execution',
            object: execution.executionArn.split(':').at(-1) ?? '',
          })
        : html`<p>${t('execution.notRedrivable', { reason: execution.redriveStatusReason ?? status })}. ${t('job.failByCli')} <code>sidestep job fail ${job.id} --reason …</code></p>`
    }
  </section>`;
}

/**
 * A batch step ECS had no room to start (the account's Fargate vCPU quota full): since when, how many
 * RunTasks were refused, ECS's reason, and about when the workflow stops waiting and fails the job.
 */
function waitingForRoom(t: Translate, wait: RoomWait | null): SafeHtml | '' {
  if (!wait) return '';
  const state = wait.state ?? t('job.batchStep');
  return html`<section class="wait-box" id="job-waiting-for-room">
    <p><strong>${t('job.waitingForRoom')}</strong></p>
    <p>${t('job.roomRefusals', { state, refusals: wait.refusals })} ${time(wait.since)}: ${wait.reason}</p>
    <p>${t('job.roomGivesUp')} ${time(wait.givesUpAt)}.</p>
  </section>`;
}

/**
 * When a mail's send-once record expires, as `sidestep job` lists it: past it (not purged yet) the
 * mail-dispatcher claims the key anew, as one without a record, so a redrive would send the mail
 * again: said next to it.
 */
function expiry(t: Translate, mail: MailRecord): SafeHtml | null {
  return mailRecordExpired(mail)
    ? html`${time(mail.expiresAt)} <strong class="bad mail-expired">(${t('job.mailExpired')})</strong>`
    : time(mail.expiresAt);
}

/** One job: progress, every attempt's execution, its mails and transitions; Retry when it failed. */
export const jobPage: Page = async (request) => {
  const { context, t, locale, params, outboxDir } = request;
  const job = await describeJob(context, params.id ?? '');
  const rejected = await rejectedRows(request, job);
  return {
    title: t('job.title', { id: job.id }),
    live: job.state === 'registered' || job.state === 'running',
    body: html`<h1 data-announce="${t('job.stateNow', { id: job.id, state: job.state })}">${t('job.title', { id: job.id })} <span id="job-state">${badge(job.state)}</span></h1>
      <p class="meta">${job.kind} · ${job.fileName === null ? '' : html`<bdi>${job.fileName}</bdi>`} · ${t('job.attemptN', { n: job.attempt })} ·
        ${t('col.created')} ${time(job.createdAt)} · ${t('col.updated')} ${time(job.updatedAt)}</p>
      ${progress(t, job) ?? ''}
      ${job.staging ? stagingProgress(t, locale, job.staging) : ''}
      ${job.usersWritten === null ? '' : html`<p id="job-written">${t('job.usersWritten', { count: formatCount(locale, job.usersWritten) })}</p>`}
      ${job.exportProgress && job.state !== 'succeeded' ? exportProgressLine(t, locale, job.exportProgress) : ''}
      ${job.error ? html`<p class="error-box"><strong>${t('col.error')}:</strong> ${job.error}</p>` : ''}
      ${whatRunsIt(request, job)}
      ${job.state === 'failed' ? actionButton(request, `/jobs/${job.id}/retry`, t('job.retry'), { id: 'retry-job', object: job.id }) : ''}
      <div class="split">
        <section>
          <h2>${t('job.executions')}</h2>
          <ol id="job-executions">${job.executions.map(
            (arn, index) =>
              html`<li>${executionLink(arn, `${t('job.attemptN', { n: index + 1 })}: ${arn.split(':').at(-1)}`)}</li>`,
          )}</ol>
          <p><a id="job-logs" href="/jobs/${encodeURIComponent(job.id)}/logs">${t('job.logs')}</a></p>
        </section>
        <section>
          <h2>${t('job.mails')}</h2>
          ${job.sweepMail ? sweepMailLine(t, job.sweepMail) : ''}
          ${table(
            t,
            [t('col.mailKey'), t('col.status'), t('col.created'), t('col.inProgressUntil'), t('col.expires')],
            job.mails.map((mail) => [
              mail.idempotencyKey,
              badge(mail.status),
              time(mail.createdAt),
              time(mail.inProgressUntil),
              expiry(t, mail),
            ]),
            { id: 'job-mails', label: t('job.mails') },
          )}
          ${outboxDir ? html`<p><a href="/mail?job=${encodeURIComponent(job.id)}">${t('mail.title')}</a></p>` : ''}
        </section>
      </div>
      ${rejected}
      <section>
        <h2>${t('job.transitions')}</h2>
        ${table(
          t,
          [t('col.at'), t('col.event'), t('col.transition'), t('col.execution')],
          job.transitions.map((transition) => [
            time(transition.at),
            transition.event,
            `${transition.from ?? '∅'} → ${transition.to}`,
            transition.executionId?.startsWith('arn:')
              ? executionLink(transition.executionId)
              : transition.executionId,
          ]),
          { label: t('job.transitions') },
        )}
      </section>`,
  };
};

/**
 * GET: every line the functions and the batch task logged about the job, oldest first, as
 * `sidestep job logs` lists them (the ops library's FilterLogEvents search of their log groups).
 */
export const jobLogsPage: Page = async ({ context, t, locale, params }) => {
  const logs = await jobLogs(context, params.id ?? '');
  return {
    title: t('jobLogs.title', { id: logs.jobId }),
    body: html`<h1>${t('jobLogs.title', { id: logs.jobId })}</h1>
      <p class="meta"><a href="/jobs/${encodeURIComponent(logs.jobId)}">${logs.jobId}</a> ·
        ${t('jobLogs.searched', { count: formatCount(locale, logs.lines.length), groups: logs.logGroups.length })}</p>
      ${logs.truncated ? html`<p class="note">${t('jobLogs.truncated', { count: formatCount(locale, logs.lines.length), id: logs.jobId, max: formatCount(locale, MAX_JOB_LOG_LINES) })}</p>` : ''}
      ${table(
        t,
        [t('col.at'), t('col.source'), t('col.level'), t('col.message'), t('col.fields')],
        logs.lines.map((line) => [
          time(line.at),
          line.source,
          line.level === null ? null : badge(line.level),
          line.message,
          logFieldsText(line.fields),
        ]),
        { id: 'job-log-lines', label: t('jobLogs.title', { id: logs.jobId }) },
      )}`,
  };
};

/** POST: retries the failed job (a new execution, attempt n+1) through the ops library (audited). */
export const retryJobAction: Page = async ({ context, t, params }) => {
  const retried = await retryJob(context, params.id ?? '');
  return {
    redirect: `/jobs/${encodeURIComponent(retried.jobId)}`,
    flash: { kind: 'ok', text: t('job.retried', { attempt: retried.attempt }) },
  };
};

/**
 * GET: every row a completed import left out, as a CSV file (`<jobId>-rejected-rows.csv`, the
 * ops library's CSV after UTF-8's byte order mark, which makes Excel read it as UTF-8, as the
 * exports do).
 */
export const rejectedRowsDownload: Page = async ({ context, params }) => {
  const page = await allRejectedRows(context, params.id ?? '');
  return {
    download: {
      fileName: `${page.jobId}-rejected-rows.csv`,
      type: 'text/csv; charset=utf-8',
      body: rejectedRowsCsv(page.rows),
    },
  };
};
