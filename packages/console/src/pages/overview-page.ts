import {
  type ExecutionSummary,
  type JobSummary,
  LedgerInvokeError,
  pageExecutions,
  pageJobs,
  status,
  WORKFLOWS,
} from '@sidestep/ops';
import { html } from '../html.ts';
import { badge, executionLink, type Page, type PageRequest, table, time } from '../page.ts';

const DAY_MS = 86_400_000;

/** The failed jobs of the last day, or `null` when this environment's ledger cannot be read. */
async function failedJobs(request: PageRequest, since: number): Promise<JobSummary[] | null> {
  try {
    const { items } = await pageJobs(request.context, { status: 'failed', limit: 10 });
    return items.filter((job) => job.updatedAt.getTime() >= since);
  } catch (error) {
    // The ledger could not answer (the ops-ledger function failed): the rest of the screen still shows.
    if (error instanceof LedgerInvokeError) return null;
    throw error;
  }
}

/** The `status` screen, live, with the last day's failures first (dead letters, failed jobs, failed executions). */
export const overviewPage: Page = async (request) => {
  const { context, t } = request;
  const now = new Date();
  const since = now.getTime() - DAY_MS;
  const [environment, jobs, executions] = await Promise.all([
    status(context, { now }),
    failedJobs(request, since),
    Promise.all(
      WORKFLOWS.map(
        async (workflow) => (await pageExecutions(context, workflow, { status: 'FAILED', limit: 5 })).items,
      ),
    ),
  ]);
  const failedExecutions: ExecutionSummary[] = executions
    .flat()
    .filter((execution) => (execution.stopDate ?? execution.startDate ?? now).getTime() >= since)
    .sort((a, b) => (b.stopDate?.getTime() ?? 0) - (a.stopDate?.getTime() ?? 0));
  const deadLettered = environment.queues.filter((queue) => queue.deadLetters > 0);
  const failures = [
    ...deadLettered.map(
      (queue) =>
        html`<li class="failure"><a href="/queues/${queue.queue}">${t('overview.deadLetters', {
          count: queue.deadLetters,
          queue: queue.queue,
        })}</a></li>`,
    ),
    ...(jobs ?? []).map(
      (job) =>
        html`<li class="failure">${badge('failed')} <a class="failed-job" href="/jobs/${job.id}">${job.kind} ${job.id}</a>
          ${job.fileName === null ? '' : html`<bdi>${job.fileName}</bdi>`} <span class="error-text">${job.error ?? ''}</span> ${time(job.updatedAt)}</li>`,
    ),
    ...failedExecutions.map(
      (execution) =>
        html`<li class="failure">${badge(execution.status)} ${execution.workflow} ${executionLink(execution.executionArn)} ${time(execution.stopDate)}</li>`,
    ),
  ];
  const body = html`<h1>${t('overview.title')}</h1>
    <section id="failures">
      <h2>${t('overview.failures')}</h2>
      ${failures.length ? html`<ul class="failures">${failures}</ul>` : html`<p class="empty">${t('overview.noFailures')}</p>`}
      ${jobs === null ? html`<p class="note">${t('overview.ledgerUnavailable')}</p>` : ''}
    </section>
    <div class="cards">
    <section>
      <h2><a href="/queues">${t('nav.queues')}</a></h2>
      ${table(
        t,
        [t('col.queue'), t('col.visible'), t('col.inFlight'), t('col.delayed'), t('col.deadLetters')],
        environment.queues.map((queue) => [
          html`<a href="/queues/${queue.queue}">${queue.queue}</a>`,
          queue.visible,
          queue.inFlight,
          queue.delayed,
          queue.deadLetters ? html`<strong class="bad">${queue.deadLetters}</strong>` : 0,
        ]),
        { label: t('nav.queues') },
      )}
    </section>
    <section>
      <h2><a href="/workflows">${t('nav.workflows')}</a></h2>
      ${table(
        t,
        [t('col.workflow'), t('col.running'), t('col.failed24h'), t('col.succeeded24h')],
        environment.workflows.map((workflow) => [
          html`<a href="/workflows/${workflow.workflow}">${workflow.workflow}</a>`,
          workflow.running,
          workflow.failed24h ? html`<strong class="bad">${workflow.failed24h}</strong>` : 0,
          workflow.succeeded24h,
        ]),
        { label: t('nav.workflows') },
      )}
    </section>
    <section id="functions">
      <h2>${t('overview.functions')}</h2>
      ${table(
        t,
        [t('col.function'), t('col.throttled24h')],
        environment.functions.map((entry) => [
          entry.function,
          entry.throttled24h ? html`<strong class="bad">${entry.throttled24h}</strong>` : 0,
        ]),
        { label: t('overview.functions') },
      )}
    </section>
    ${
      environment.jobs
        ? html`<section>
      <h2><a href="/jobs">${t('nav.jobs')}</a></h2>
      ${table(
        t,
        [t('col.registered'), t('col.running'), t('col.failed24h'), t('col.succeeded24h')],
        [
          [
            environment.jobs.registered,
            environment.jobs.running,
            environment.jobs.failed24h
              ? html`<a class="bad" href="/jobs?status=failed" aria-label="${t('overview.failedJobs', { count: environment.jobs.failed24h })}">${environment.jobs.failed24h}</a>`
              : 0,
            environment.jobs.succeeded24h,
          ],
        ],
        { label: t('nav.jobs') },
      )}
    </section>`
        : ''
    }
    <section>
      <h2><a href="/schedules">${t('nav.schedules')}</a></h2>
      ${table(
        t,
        [t('col.schedule'), t('col.state'), t('col.nextFire')],
        environment.schedules.map((schedule) => [
          schedule.name,
          badge(schedule.state),
          schedule.nextFireLocal,
        ]),
        { label: t('nav.schedules') },
      )}
    </section>
    </div>`;
  return { title: t('overview.title'), body, live: true };
};
