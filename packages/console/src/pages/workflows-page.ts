import {
  describeExecution,
  pageExecutions,
  redriveExecution,
  stopExecution,
  WORKFLOWS,
  workflowDefinition,
} from '@sidestep/ops';
import { html } from '../html.ts';
import {
  actionButton,
  actionFields,
  badge,
  executionLink,
  jsonBlock,
  type Page,
  pager,
  table,
  time,
} from '../page.ts';
import { OUTCOME_SIGNS, type StateOutcome, workflowGraph } from '../workflow-graph.ts';

const STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];

/** Every workflow drawn from its deployed definition, each linking to its executions. */
export const workflowsPage: Page = async ({ context, t }) => {
  const definitions = await Promise.all(
    WORKFLOWS.map(async (workflow) => ({
      workflow,
      definition: await workflowDefinition(context, workflow),
    })),
  );
  return {
    title: t('workflows.title'),
    body: html`<h1>${t('workflows.title')}</h1>
      <div class="graphs">${definitions.map(
        ({ workflow, definition }) => html`<section class="workflow">
          <h2><a href="/workflows/${workflow}">${workflow}</a></h2>
          ${workflowGraph(definition, { label: t('graph.label', { workflow }) })}
        </section>`,
      )}</div>`,
  };
};

/** One workflow: its graph and its executions, a page at a time (ListExecutions' nextToken). */
export const workflowPage: Page = async (request) => {
  const { context, t, url, params } = request;
  const workflow = params.workflow ?? '';
  const statusFilter = url.searchParams.get('status') || undefined;
  const cursor = url.searchParams.get('cursor') || undefined;
  const [definition, page] = await Promise.all([
    workflowDefinition(context, workflow),
    pageExecutions(context, workflow, {
      ...(statusFilter ? { status: statusFilter } : {}),
      ...(cursor ? { cursor } : {}),
      limit: 50,
    }),
  ]);
  const filterLink = (value: string | null) =>
    value === (statusFilter ?? null)
      ? html`<strong aria-current="true">${value ?? t('workflows.allStatuses')}</strong>`
      : html`<a href="/workflows/${workflow}${value ? `?status=${value}` : ''}">${value ?? t('workflows.allStatuses')}</a>`;
  return {
    title: workflow,
    body: html`<h1>${t('nav.workflows')} / ${workflow}</h1>
      <div class="split">
        <section class="workflow">${workflowGraph(definition, { label: t('graph.label', { workflow }) })}</section>
        <section>
          <h2>${t('workflows.executions')}</h2>
          <nav class="filters" aria-label="${t('col.status')}">${[null, ...STATUSES].map(filterLink)}</nav>
          ${table(
            t,
            [t('col.execution'), t('col.status'), t('col.started'), t('col.stopped'), t('col.redrives')],
            page.items.map((execution) => [
              executionLink(execution.executionArn),
              badge(execution.status),
              time(execution.startDate),
              time(execution.stopDate),
              execution.redriveCount,
            ]),
            { id: 'executions', label: t('workflows.executions') },
          )}
          ${pager(request, page.next)}
        </section>
      </div>`,
  };
};

/**
 * One execution: the workflow's graph coloured by how each state ended, the steps as a timeline
 * (retries, errors and causes), input and output, and Redrive for an execution that failed.
 */
export const executionPage: Page = async (request) => {
  const { context, t, url } = request;
  const arn = url.searchParams.get('arn') ?? '';
  const execution = await describeExecution(context, arn);
  const outcomes = new Map<string, StateOutcome>();
  for (const step of execution.steps) outcomes.set(step.name, step.status);
  const definition =
    execution.workflow === 'unknown' ? {} : await workflowDefinition(context, execution.workflow);
  // DescribeExecution's own answer: a failure more than 14 days old is not redrivable either.
  const redrivable = execution.redriveStatus === 'REDRIVABLE';
  const notRedrivable =
    !redrivable && execution.status !== 'RUNNING' && execution.status !== 'SUCCEEDED'
      ? execution.redriveStatusReason
      : null;
  return {
    title: t('execution.title', { name: execution.name }),
    live: execution.status === 'RUNNING',
    body: html`<h1 data-announce="${t('execution.statusNow', { name: execution.name, status: execution.status })}">${t('execution.title', { name: execution.name })} ${badge(execution.status)}</h1>
      <p class="meta">
        <a href="/workflows/${execution.workflow}">${execution.workflow}</a> ·
        ${t('col.started')} ${time(execution.startDate)} · ${t('col.stopped')} ${time(execution.stopDate)} ·
        ${t('col.redrives')} ${execution.redriveCount}
        ${execution.jobId ? html` · ${t('execution.job')} <a href="/jobs/${execution.jobId}">${execution.jobId}</a>` : ''}
      </p>
      ${redrivable ? actionButton(request, '/executions/redrive', t('execution.redrive'), { fields: { arn: execution.executionArn }, id: 'redrive-execution', object: execution.name }) : ''}
      ${notRedrivable ? html`<p class="meta" id="not-redrivable">${t('execution.notRedrivable', { reason: notRedrivable })}</p>` : ''}
      ${
        execution.status === 'RUNNING'
          ? html`<form method="post" action="/executions/stop" class="action" id="stop-execution">
            ${actionFields(request, '/executions/stop', { arn: execution.executionArn })}
            <label for="stop-cause">${t('execution.stopCause')}</label>
            <input type="text" id="stop-cause" name="cause" required>
            <button type="submit">${t('execution.stop')}</button>
          </form>`
          : ''
      }
      ${
        execution.error || execution.cause
          ? html`<section class="error-box"><h2>${t('execution.errorCause')}</h2>
            <p><strong>${execution.error ?? ''}</strong></p>${jsonBlock(execution.cause)}</section>`
          : ''
      }
      <div class="split">
        <section class="workflow">
          <h2>${t('execution.graph')}</h2>
          ${workflowGraph(definition, {
            outcomes,
            label: [
              t('graph.label', { workflow: execution.workflow }),
              [...outcomes].map(([state, outcome]) => `${state} ${t(`legend.${outcome}`)}`).join(', '),
            ]
              .filter(Boolean)
              .join(': '),
          })}
          <p class="legend">${(['succeeded', 'failed', 'running', 'idle'] as const).map((outcome) =>
            outcome === 'idle'
              ? html`<span class="swatch state-idle">${t('legend.notRun')}</span>`
              : html`<span class="swatch state-${outcome}">${OUTCOME_SIGNS[outcome]} ${t(`legend.${outcome}`)}</span>`,
          )}</p>
        </section>
        <section>
          <h2>${t('execution.timeline')}</h2>
          ${table(
            t,
            [
              t('col.state.name'),
              t('col.type'),
              t('col.entered'),
              t('col.duration'),
              t('col.status'),
              t('col.retries'),
              t('col.error'),
            ],
            execution.steps.map((step) => [
              step.name,
              step.type,
              time(step.enteredAt),
              step.durationMs === null ? null : `${step.durationMs} ms`,
              badge(step.status),
              step.retries,
              step.error
                ? html`<details><summary>${step.error}</summary><pre>${step.cause ?? ''}</pre></details>`
                : null,
            ]),
            { id: 'timeline', label: t('execution.timeline') },
          )}
        </section>
      </div>
      <div class="split">
        <section><h2>${t('execution.input')}</h2>${jsonBlock(execution.input)}</section>
        <section><h2>${t('execution.output')}</h2>${jsonBlock(execution.output)}</section>
      </div>`,
  };
};

/**
 * POST: StopExecution of the running execution in the form with the form's `cause`, through the ops
 * library (audited; an empty cause is refused naming the field).
 */
export const stopExecutionAction: Page = async ({ context, t, form }) => {
  const result = await stopExecution(context, form.get('arn') ?? '', form.get('cause') ?? '');
  return {
    redirect: `/executions?arn=${encodeURIComponent(result.executionArn)}`,
    flash: {
      kind: 'ok',
      // What became of its job too: a stop after the job succeeded fails nothing.
      text: `${t('execution.stopped', { date: result.stopDate?.toISOString() ?? '' })} ${t(
        `execution.stopped.${result.jobOutcome}`,
        { jobId: result.jobId ?? '' },
      )}`,
    },
  };
};

/** POST: RedriveExecution of the execution in the form, through the ops library (audited). */
export const redriveExecutionAction: Page = async ({ context, t, form }) => {
  const arn = form.get('arn') ?? '';
  const result = await redriveExecution(context, arn);
  return {
    redirect: `/executions?arn=${encodeURIComponent(result.executionArn)}`,
    flash: { kind: 'ok', text: t('execution.redriven', { date: result.redriveDate?.toISOString() ?? '' }) },
  };
};
