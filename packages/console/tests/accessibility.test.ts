import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JobNotFoundError } from '@sidestep/ledger';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { createOpsContext, type JobDetail, type Ledger, type OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type RunningConsole, startConsole } from '../src/index.ts';
import { launchChromium, signIn } from '../src/testing.ts';
import {
  FAILED_IMPORT_HISTORY,
  IMPORT_DEFINITION,
  IMPORT_FAILURE_CAUSE,
  WAITING_FOR_ROOM_HISTORY,
} from './stub-executions.ts';
import { stubQueues } from './stub-queues.ts';

// The console as a keyboard and screen-reader user meets it, in Debian's Chromium: axe-core's WCAG
// 2.0/2.1 A and AA rules on every kind of page in both colour schemes, reflow at 320 CSS pixels
// (https://www.w3.org/WAI/WCAG21/Understanding/reflow.html), where focus lands after an action
// (https://www.w3.org/WAI/WCAG21/Understanding/focus-order.html), the skip link
// (https://www.w3.org/WAI/WCAG21/Understanding/bypass-blocks.html) and a live page's status message
// (https://www.w3.org/WAI/WCAG21/Understanding/status-messages.html). The ledger is a stub and the
// AWS clients are mocked, so every page has something in it.

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const arnOf = (name: string) =>
  `arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:${name}`;
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
const started = new Date('2026-11-24T10:00:00Z');
const stopDate = new Date('2026-12-05T01:00:00Z');

const JOBS: readonly JobDetail[] = [
  sampleJobDetail({ id: 'imp_running', executionId: arnOf('imp_running'), rowsTotal: 100, rowsImported: 40 }),
  // Running, its batch step waiting for room to start its task (the vCPU quota full).
  sampleJobDetail({ id: 'imp_waiting', executionId: arnOf('imp_waiting'), rowsTotal: null, rowsImported: 0 }),
  // Running in the ledger, but its execution ended ABORTED: stalled until an operator redrives it.
  sampleJobDetail({
    id: 'imp_aborted',
    executionId: arnOf('imp_aborted'),
    workerError: 'interrupted by SIGTERM',
  }),
  sampleJobDetail({
    id: 'imp_failed',
    state: 'failed',
    error: 'the import failed',
    executionId: arnOf('imp_failed'),
    executions: [arnOf('imp_failed')],
    // A name without a space: it must wrap, not widen a 320-pixel page.
    fileName: 'a-very-long-file-name-without-any-space-for-wrapping-users-2026-12-01.csv',
  }),
  sampleJobDetail({ id: 'exp_done', kind: 'export', state: 'succeeded', fileName: null, rowsTotal: 1000 }),
  // A completed import that left two of its ten rows out.
  sampleJobDetail({ id: 'imp_rejected', state: 'succeeded', rowsTotal: 10, rowsRejected: 2 }),
];
/** The job the live test changes while its page is open. */
let liveJob = sampleJobDetail({ id: 'imp_live', rowsTotal: 100, rowsImported: 10 });

let context: OpsContext;
let operatorConsole: RunningConsole;
let browser: Browser;
let outboxDir: string;
const schemes: Partial<Record<'light' | 'dark', BrowserContext>> = {};

/**
 * A signed-in browser context in `colorScheme`. CSP is bypassed for axe's injected script only: the
 * console's own policy allows no inline script, and pages never rely on one.
 */
async function signedIn(colorScheme: 'light' | 'dark'): Promise<BrowserContext> {
  const made = await browser.newContext({ colorScheme, bypassCSP: true });
  const tab = await made.newPage();
  await tab.goto(operatorConsole.url);
  await tab.close();
  return made;
}

function light(): BrowserContext {
  if (!schemes.light) throw new Error('the light context did not start');
  return schemes.light;
}

/** Opens `path`; on a live page, waits until its stream has connected, so its body is not swapped under axe. */
async function open(tab: Page, path: string): Promise<void> {
  await tab.goto(new URL(path, operatorConsole.url).toString());
  if (await tab.evaluate(() => document.body.dataset.live === 'true')) {
    await tab.locator('header .live-indicator:not([hidden])').waitFor();
  }
}

/** axe-core's WCAG 2.0/2.1 A and AA violations on the page, one line each: its rule and the element. */
async function violations(tab: Page): Promise<string[]> {
  await tab.addScriptTag({ content: AXE });
  const found = await tab.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is the global the injected script defines.
    const result = await (window as any).axe.run(document, {
      runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'],
    });
    return (result.violations as { id: string; nodes: { html: string }[] }[]).flatMap((violation) =>
      violation.nodes.map((node) => `${violation.id}: ${node.html.slice(0, 200)}`),
    );
  });
  return found;
}

/** What has the focus: its tag, id and class, and whether it is in <main>. */
function focused(tab: Page) {
  return tab.evaluate(() => {
    const active = document.activeElement;
    return {
      element: active ? `${active.localName}#${active.id}.${active.className}` : 'none',
      inMain: Boolean(active?.closest('main')),
      text: active?.textContent?.trim().slice(0, 80) ?? '',
    };
  });
}

beforeAll(async () => {
  outboxDir = mkdtempSync(join(tmpdir(), 'sidestep-a11y-outbox-'));
  writeFileSync(
    join(outboxDir, '20261124T100000000Z-m1.eml'),
    [
      'From: no-reply@example.com',
      'To: ops@example.com',
      'Subject: Import finished: users.csv',
      'Date: Tue, 24 Nov 2026 10:00:00 +0000',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Your import of <b>users.csv</b> finished.</p>',
      '',
    ].join('\r\n'),
  );
  const ledger = {
    describeJob: async (id: string) => {
      if (id === liveJob.id) return liveJob;
      const job = JOBS.find((candidate) => candidate.id === id);
      if (!job) throw new JobNotFoundError(id);
      return job;
    },
    listJobs: async () => ({ jobs: JOBS, next: null }),
    listRejectedRows: async ({ jobId }: { jobId: string }) => ({
      jobId,
      state: 'succeeded',
      rowsRejected: 2,
      rows: [
        { line: 2, field: 'email', message: 'not an email' },
        { line: 7, field: 'name', message: 'empty' },
      ],
      next: null,
    }),
    handOverJob: async () => undefined,
    takeBackJob: async () => undefined,
    appendAudit: async () => undefined,
    listAudit: async () => [],
  } as unknown as Ledger;
  context = {
    ...createOpsContext({
      environment: 'local',
      env: { USER: 'tester' },
      clients: {
        eventBridge: new EventBridgeClient({ region: 'us-east-1' }),
        sfn: new SFNClient({ region: 'us-east-1' }),
      },
      warn: () => undefined,
    }),
    ledger: async () => ledger,
  };
  mockClient(EventBridgeClient)
    .on(PutEventsCommand)
    .resolves({ Entries: [{ EventId: 'event-1' }] });
  const sfn = mockClient(SFNClient);
  sfn.on(DescribeExecutionCommand).callsFake(async ({ executionArn }: { executionArn: string }) => {
    const name = executionArn.split(':').at(-1) ?? '';
    const execution = {
      executionArn,
      stateMachineArn: STATE_MACHINE,
      name,
      startDate: started,
      input: `{"job":{"jobId":"${name}"}}`,
    };
    // A retry's new name exists nowhere yet (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
    if (name.includes('-attempt-')) {
      throw Object.assign(new Error(`Execution Does Not Exist: '${executionArn}'`), {
        name: 'ExecutionDoesNotExist',
      });
    }
    if (['imp_running', 'imp_live', 'imp_waiting'].includes(name)) return { ...execution, status: 'RUNNING' };
    if (name === 'imp_aborted') {
      return { ...execution, status: 'ABORTED', stopDate, redriveStatus: 'REDRIVABLE' };
    }
    return {
      ...execution,
      status: 'FAILED',
      stopDate,
      error: 'States.TaskFailed',
      cause: IMPORT_FAILURE_CAUSE,
      redriveStatus: 'REDRIVABLE',
    };
  });
  sfn
    .on(StartExecutionCommand)
    .resolves({ executionArn: arnOf('imp_failed-attempt-2'), startDate: stopDate });
  sfn.on(GetExecutionHistoryCommand).resolves(FAILED_IMPORT_HISTORY);
  sfn
    .on(GetExecutionHistoryCommand, { executionArn: arnOf('imp_waiting') })
    .resolves(WAITING_FOR_ROOM_HISTORY);
  sfn.on(DescribeStateMachineCommand).resolves({ definition: IMPORT_DEFINITION });
  sfn.on(ListExecutionsCommand).resolves({
    executions: [
      {
        executionArn: arnOf('imp_running'),
        stateMachineArn: STATE_MACHINE,
        name: 'imp_running',
        status: 'RUNNING',
        startDate: started,
      },
      {
        executionArn: arnOf('imp_failed'),
        stateMachineArn: STATE_MACHINE,
        name: 'imp_failed',
        status: 'FAILED',
        startDate: started,
        stopDate,
      },
    ],
  });
  // Every queue and dead-letter queue holds a message, so the dead-letter links show.
  stubQueues(context, {
    body: JSON.stringify({ type: 'mail.send', version: 1, id: 'dead-1', payload: {} }),
    attributes: { ApproximateReceiveCount: '3', SentTimestamp: '1764000000000' },
  });
  const logs = mockClient(context.clients.logs);
  logs.on(FilterLogEventsCommand).resolves({ events: [] });
  logs.on(FilterLogEventsCommand, { logGroupName: '/ecs/sidestep-local-batch-worker' }).resolves({
    events: [
      {
        timestamp: Date.parse('2026-11-24T10:00:02Z'),
        logStreamName: 'batch/task-1',
        message: JSON.stringify({ level: 'ERROR', message: 'import failed', jobId: 'imp_failed' }),
      },
    ],
  });
  operatorConsole = await startConsole({ context, port: 0, outboxDir, refreshMs: 250 });
  browser = await launchChromium();
  schemes.light = await signedIn('light');
  schemes.dark = await signedIn('dark');
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await operatorConsole?.close();
  await context?.close();
  if (outboxDir) rmSync(outboxDir, { recursive: true, force: true });
});

const PAGES = [
  '/',
  '/jobs',
  '/jobs/imp_failed',
  '/jobs/imp_rejected',
  '/jobs/imp_aborted',
  '/jobs/imp_waiting',
  '/jobs/imp_failed/logs',
  `/executions?arn=${encodeURIComponent(arnOf('imp_failed'))}`,
  '/workflows',
  '/workflows/import',
  '/queues',
  '/queues/mail',
  '/schedules',
  '/mail',
  '/nope',
];

describe.each(['light', 'dark'] as const)('the operator console in its %s colour scheme', (scheme) => {
  // One test a page: each runs axe once (about a second), far from jest's timeout on a slow machine,
  // where all the pages in one test came within it.
  it.each(PAGES)('breaks none of axe-core’s WCAG 2.0 and 2.1 A and AA rules on %s', async (path) => {
    const tab = await (schemes[scheme] ?? light()).newPage();
    try {
      await open(tab, path);
      expect(await violations(tab)).toEqual([]);
    } finally {
      await tab.close();
    }
  });
});

describe('the operator console', () => {
  it('reflows at 320 CSS pixels wide: no page scrolls sideways (WCAG 1.4.10)', async () => {
    const tab = await light().newPage();
    await tab.setViewportSize({ width: 320, height: 800 });
    const wide: string[] = [];
    for (const path of ['/', '/jobs', '/workflows', '/schedules', '/jobs/imp_failed']) {
      await open(tab, path);
      const { scroll, client } = await tab.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      if (scroll > client) wide.push(`${path}: ${scroll} px wide in a ${client} px window`);
    }
    await tab.close();
    expect(wide).toEqual([]);
  });

  it('puts the focus on the result of an action done by keyboard, with the page’s controls next', async () => {
    const tab = await light().newPage();
    await open(tab, '/jobs/imp_failed');
    await tab.focus('#retry-job');
    await tab.keyboard.press('Enter');
    await tab.waitForURL(/\/jobs\/imp_failed\?flash=/);
    await tab.locator('.flash').waitFor();
    const onResult = await focused(tab);
    expect(onResult).toMatchObject({
      element: expect.stringContaining('flash'),
      text: 'Retried: attempt 2 started',
    });
    await tab.keyboard.press('Tab');
    expect(await focused(tab)).toMatchObject({ inMain: true });
    await tab.close();
  });

  it('offers a link to the main content as the first Tab, which moves the focus into <main>', async () => {
    const tab = await light().newPage();
    await open(tab, '/jobs');
    await tab.keyboard.press('Tab');
    const first = await tab.evaluate(() => {
      const active = document.activeElement;
      const target = active?.getAttribute('href')?.startsWith('#')
        ? document.getElementById(active.getAttribute('href')?.slice(1) ?? '')
        : null;
      return { link: active?.localName === 'a', targetIsMain: target?.localName === 'main' };
    });
    expect(first).toEqual({ link: true, targetIsMain: true });
    await tab.keyboard.press('Enter');
    await tab.waitForFunction(() => document.activeElement?.closest('main') !== null);
    await tab.close();
  });

  it('announces a change of a live job’s state in a status region, and nothing for an update that changes none', async () => {
    const tab = await light().newPage();
    await open(tab, `/jobs/${liveJob.id}`);
    const region = tab.locator('body > [role="status"]:not(.flash, #live-stale)');
    expect(await region.count()).toBe(1);
    // Visually hidden: in the accessibility tree, not on the screen.
    expect(await region.evaluate((element) => element.getBoundingClientRect().width <= 1)).toBe(true);
    expect(await region.textContent()).toBe('');

    // Progress without a change of state: the page shows it, and says nothing.
    liveJob = { ...liveJob, rowsImported: 60 };
    await tab.locator('main', { hasText: '60 of 100 rows' }).waitFor();
    expect(await region.textContent()).toBe('');

    liveJob = { ...liveJob, state: 'failed', error: 'the import failed' };
    await tab.waitForFunction(
      (element) => /imp_live/.test(element?.textContent ?? '') && /failed/.test(element?.textContent ?? ''),
      await region.elementHandle(),
    );
    await tab.close();
  });

  it('answers a read of a job that does not exist 404, titled with what was not found', async () => {
    const get = await signIn(operatorConsole.url);
    const answer = await get('/jobs/imp_nope');
    const page = await answer.text();
    const title = /<title>([^<]*)<\/title>/.exec(page)?.[1] ?? '';
    expect({ status: answer.status, title }).toEqual({
      status: 404,
      title: expect.stringContaining('imp_nope'),
    });
    expect(title).not.toContain('The action failed');
  });
});
